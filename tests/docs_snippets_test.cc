// Every ```cpp block of README.md and docs/*.md is a verbatim excerpt of a
// file under examples/, which the build compiles and ctest runs: a snippet
// that no longer compiles or no longer matches its file fails here instead of
// rotting. A block matches when its lines, trailing whitespace trimmed, are a
// contiguous range of lines of one example file.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Lines = std::vector<std::string>;

std::string TrimRight(std::string line) {
  line.erase(line.find_last_not_of(" \t\r") + 1);
  return line;
}

Lines ReadLines(const fs::path& path) {
  Lines lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(TrimRight(line));
  return lines;
}

struct Block {
  fs::path file;
  size_t line = 0;  // of the opening fence, 1-based
  Lines lines;
};

// The ```cpp blocks of a Markdown file. A fence may be indented (in a list).
std::vector<Block> CppBlocks(const fs::path& markdown) {
  std::vector<Block> blocks;
  const Lines lines = ReadLines(markdown);
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t indent = lines[i].find_first_not_of(' ');
    if (indent == std::string::npos || lines[i].compare(indent, std::string::npos, "```cpp") != 0) {
      continue;
    }
    Block block{markdown, i + 1, {}};
    for (++i; i < lines.size() && lines[i].substr(std::min(indent, lines[i].size())) != "```";
         ++i) {
      // Strip the fence's indentation from each line of the block.
      const std::string& line = lines[i];
      block.lines.push_back(line.substr(std::min({indent, line.find_first_not_of(' '), line.size()})));
    }
    blocks.push_back(block);
  }
  return blocks;
}

bool IsExcerptOf(const Lines& block, const Lines& file) {
  if (block.empty() || block.size() > file.size()) return false;
  return std::search(file.begin(), file.end(), block.begin(), block.end()) != file.end();
}

std::vector<fs::path> Markdown() {
  std::vector<fs::path> files{fs::path(SOURCE_DIR) / "README.md"};
  const fs::path docs = fs::path(SOURCE_DIR) / "docs";
  if (fs::is_directory(docs)) {
    for (const auto& entry : fs::directory_iterator(docs)) {
      if (entry.path().extension() == ".md") files.push_back(entry.path());
    }
  }
  std::sort(files.begin() + 1, files.end());
  return files;
}

std::vector<std::pair<fs::path, Lines>> Examples() {
  std::vector<std::pair<fs::path, Lines>> examples;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(SOURCE_DIR) / "examples")) {
    const auto extension = entry.path().extension();
    if (extension == ".cc" || extension == ".h") {
      examples.emplace_back(entry.path(), ReadLines(entry.path()));
    }
  }
  return examples;
}

TEST(DocsSnippets, EveryCppBlockIsAnExcerptOfAnExample) {
  const auto examples = Examples();
  ASSERT_FALSE(examples.empty()) << "no .cc file under " << SOURCE_DIR << "/examples";
  size_t checked = 0;
  for (const fs::path& markdown : Markdown()) {
    for (const Block& block : CppBlocks(markdown)) {
      ++checked;
      const bool found = std::any_of(examples.begin(), examples.end(), [&](const auto& example) {
        return IsExcerptOf(block.lines, example.second);
      });
      EXPECT_TRUE(found) << block.file.string() << ":" << block.line << ": this ```cpp block ("
                         << block.lines.size() << " lines, first: \""
                         << (block.lines.empty() ? "" : block.lines.front())
                         << "\") is not a verbatim excerpt of any file under examples/. Put the "
                            "code in an example file that the build compiles, and copy the lines "
                            "from there.";
    }
  }
  EXPECT_GT(checked, 0u) << "README.md holds no ```cpp block: is the parser wrong?";
}

// The checker itself: a block cut from the middle of a file matches, one with
// a changed line does not.
TEST(DocsSnippets, ExcerptMeansContiguousLines) {
  const Lines file{"a", "b", "c", "d"};
  EXPECT_TRUE(IsExcerptOf({"b", "c"}, file));
  EXPECT_FALSE(IsExcerptOf({"b", "d"}, file));
  EXPECT_FALSE(IsExcerptOf({}, file));
  EXPECT_EQ(TrimRight("x  \t"), "x");
}

}  // namespace
