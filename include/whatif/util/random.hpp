// Random bits for names and ids (temporary files, run ids, canaries).
#pragma once

#include <errno.h>
#include <sys/random.h>

#include <cstdint>
#include <random>

namespace whatif::util {

// From the kernel's getrandom(2): std::random_device here opens, reads and closes
// a device on every construction (about 14 us), several times in every run.
inline uint64_t random_u64() {
    uint64_t value = 0;
    for (;;) {
        const ssize_t n = getrandom(&value, sizeof value, 0);
        if (n == static_cast<ssize_t>(sizeof value)) return value;
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    std::random_device device;  // no getrandom (seccomp, an old kernel)
    return (static_cast<uint64_t>(device()) << 32) | device();
}

}  // namespace whatif::util
