// Warm clones of an unmodified program: the Flask app in flask_app.py
// starts once, and every test gets a copy-on-write clone of it, taken the
// first time the app waited for a connection (Options::preload_checkpoint).
#include <gtest/gtest.h>
#include <httplib.h>

#include <gtest_fork_env/fork_server_env.h>

namespace {

gtest_fork_env::ForkServerEnv* const app = [] {
  gtest_fork_env::Options options;
  options.name = "flask-kv";
  options.scope = gtest_fork_env::Scope::kTest;  // a fresh clone for every test
  options.preload_checkpoint = true;             // the app does not link gtest_fork_env
  auto* env = gtest_fork_env::ForkServerEnv::Exec(
      {"/usr/bin/python3", FLASK_APP, "{port}"}, options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

TEST(FlaskClone, StoresAKey) {
  httplib::Client client(app->host(), app->port());
  ASSERT_TRUE(client.Put("/kv/greeting", "hello", "text/plain"));
  EXPECT_EQ(client.Get("/kv/greeting")->body, "hello");
}

TEST(FlaskClone, NextTestStartsEmpty) {
  httplib::Client client(app->host(), app->port());
  auto answer = client.Get("/kv/greeting");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 404);  // the key of the test before is not here
}

}  // namespace
