// A user's test binary: one ForkServerEnv with a tiny cpp-httplib server, and
// tests that really talk to it over HTTP.

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>
#include <gtest_fork_env/version.h>
#include <httplib.h>
#include <unistd.h>

#include <string>

namespace {

gtest_fork_env::ForkServerEnv* server = nullptr;

int ServeGreeting(gtest_fork_env::ServerContext& context) {
  httplib::Server http;
  http.set_keep_alive_timeout(1);
  http.Get("/hello", [](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.has_param("name") ? request.get_param_value("name") : "world";
    response.set_content("hello, " + name + " from pid " + std::to_string(getpid()),
                         "text/plain");
  });
  return gtest_fork_env::ServeHttplib(http, context);
}

TEST(Consumer, ServerAnswersOverHttp) {
  ASSERT_NE(server->port(), 0);
  httplib::Client client(server->host(), server->port());
  httplib::Result result = client.Get("/hello?name=" CONSUMER_MODE);
  ASSERT_TRUE(result) << "GET " << server->url() << "/hello: " << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body,
            "hello, " CONSUMER_MODE " from pid " + std::to_string(server->pid()));
}

TEST(Consumer, ServerIsAnotherProcess) {
  EXPECT_TRUE(server->IsRunning());
  EXPECT_NE(server->pid(), getpid());
  EXPECT_EQ(server->url(), "http://127.0.0.1:" + std::to_string(server->port()));
}

TEST(Consumer, VersionMacros) {
  static_assert(GTEST_FORK_ENV_VERSION_NUMBER ==
                    GTEST_FORK_ENV_VERSION_MAJOR * 10000 + GTEST_FORK_ENV_VERSION_MINOR * 100 +
                        GTEST_FORK_ENV_VERSION_PATCH,
                "GTEST_FORK_ENV_VERSION_NUMBER");
  EXPECT_EQ(std::string(GTEST_FORK_ENV_VERSION),
            std::to_string(GTEST_FORK_ENV_VERSION_MAJOR) + "." +
                std::to_string(GTEST_FORK_ENV_VERSION_MINOR) + "." +
                std::to_string(GTEST_FORK_ENV_VERSION_PATCH));
  // The version CMake knows: from the package's version file, or from the
  // project() of the source tree.
  EXPECT_STREQ(GTEST_FORK_ENV_VERSION, CONSUMER_EXPECTED_VERSION);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  server = new gtest_fork_env::ForkServerEnv(ServeGreeting);
  ::testing::AddGlobalTestEnvironment(server);
  return RUN_ALL_TESTS();
}
