// Prints the capability sets and ids it runs with (run directly, or as a setuid-root
// or file-capability copy).
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <string>

int main() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("Cap", 0) == 0 || line.rfind("NoNewPrivs", 0) == 0)
            std::cout << line << "\n";
    std::cout << "euid:\t" << geteuid() << "\n";
    return 0;
}
