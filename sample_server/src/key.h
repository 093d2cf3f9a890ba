#pragma once

#include <cstddef>
#include <string_view>

namespace sample_server {

// Keys are 1 to 256 bytes of [A-Za-z0-9._~-], the characters a URL path
// carries unescaped, so a key is the same string in the URL, the store, the
// listing and the data file.
inline constexpr size_t kMaxKeyBytes = 256;

inline bool IsKeyCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-';
}

// Whether `text` is made of key characters only and is at most kMaxKeyBytes
// long (a listing prefix may be empty).
inline bool IsKeyText(std::string_view text) {
  if (text.size() > kMaxKeyBytes) return false;
  for (char c : text) {
    if (!IsKeyCharacter(c)) return false;
  }
  return true;
}

inline bool IsValidKey(std::string_view key) { return !key.empty() && IsKeyText(key); }

}  // namespace sample_server
