#include <doctest/doctest.h>

#include "whatif/util/duration.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"

using namespace whatif;

TEST_CASE("display quoting keeps plain names and makes odd ones exact and visible") {
    CHECK(util::shell_quote_for_display("/home/ana/data") == "/home/ana/data");
    CHECK(util::shell_quote_for_display("a b") == "'a b'");
    CHECK(util::shell_quote_for_display("it's") == "'it'\\''s'");
    CHECK(util::shell_quote_for_display("a\nb") == "$'a\\nb'");
    CHECK(util::shell_quote_for_display(std::string("x\xff", 2)) == "$'x\\xff'");
    CHECK(util::shell_quote_for_display("caf\xc3\xa9") == "'caf\xc3\xa9'");
    CHECK(util::shell_quote_for_display("") == "''");
    CHECK(util::join_argv_for_display({"sh", "-c", "echo \"a  b\""}) == "sh -c 'echo \"a  b\"'");
}

TEST_CASE("UTF-8 validation and hex round trip") {
    CHECK(util::is_valid_utf8("plain"));
    CHECK(util::is_valid_utf8("caf\xc3\xa9"));
    CHECK_FALSE(util::is_valid_utf8("\xc3"));
    CHECK_FALSE(util::is_valid_utf8("\xc0\xaf"));  // overlong '/'
    CHECK(util::to_valid_utf8("a\xff"
                              "b") ==
          "a\xEF\xBF\xBD"
          "b");
    const std::string raw("n\na\xfe", 4);
    CHECK(util::from_hex(util::to_hex(raw)) == raw);
    CHECK(util::from_hex("zz").empty());
}

TEST_CASE("numbers for people") {
    CHECK(util::with_thousands(0) == "0");
    CHECK(util::with_thousands(1204) == "1,204");
    CHECK(util::with_thousands(1234567) == "1,234,567");
    CHECK(util::human_bytes(12) == "12 B");
    CHECK(util::human_bytes(222298112) == "222 MB");
    CHECK(util::human_bytes(1500) == "1.5 kB");
    CHECK(util::signal_name(9) == "SIGKILL");
}

TEST_CASE("durations") {
    CHECK(util::parse_duration("500ms")->count() == 500);
    CHECK(util::parse_duration("30s")->count() == 30000);
    CHECK(util::parse_duration("30")->count() == 30000);
    CHECK(util::parse_duration("5m")->count() == 300000);
    CHECK(util::parse_duration("7d")->count() == 7LL * 86400000);
    CHECK_FALSE(util::parse_duration("").has_value());
    CHECK_FALSE(util::parse_duration("5 minutes").has_value());
    CHECK_FALSE(util::parse_duration("-1s").has_value());
    CHECK(util::parse_duration("5y").error().code == ExitCode::bad_input);
}

TEST_CASE("path helpers are component-wise") {
    CHECK(util::path_is_within("/a/b", "/a"));
    CHECK(util::path_is_within("/a", "/a"));
    CHECK_FALSE(util::path_is_within("/ab", "/a"));
    CHECK(util::path_is_within("/x", "/"));
    CHECK(util::join_path("/", "x") == "/x");
    CHECK(util::join_path("/a/", "/b") == "/a/b");
    CHECK(util::parent_path("/a/b") == "/a");
    CHECK(util::parent_path("/a") == "/");
    CHECK(util::base_name("/a/b") == "b");
}
