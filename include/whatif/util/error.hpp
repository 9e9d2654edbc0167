// Errors a user or the environment can cause travel as values, never as exceptions.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace whatif {

// Exit codes of the command-line contract (DESIGN.md).
enum class ExitCode : int {
    allow = 0,
    failure = 1,    // whatif itself failed: set-up, I/O
    bad_input = 2,  // bad usage or bad input: arguments, profile, hook JSON, unknown run
    ask = 3,
    deny = 4,
};

struct Error {
    ExitCode code = ExitCode::failure;
    std::string message;

    static Error failure(std::string msg) { return {ExitCode::failure, std::move(msg)}; }
    static Error bad_input(std::string msg) { return {ExitCode::bad_input, std::move(msg)}; }
    // "open(/x): Permission denied" from the current errno.
    static Error from_errno(const std::string& what, int err = errno) {
        return {ExitCode::failure, what + ": " + std::strerror(err)};
    }
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(std::string msg) {
    return std::unexpected(Error::failure(std::move(msg)));
}
inline std::unexpected<Error> bad_input(std::string msg) {
    return std::unexpected(Error::bad_input(std::move(msg)));
}
inline std::unexpected<Error> fail_errno(const std::string& what, int err = errno) {
    return std::unexpected(Error::from_errno(what, err));
}

}  // namespace whatif
