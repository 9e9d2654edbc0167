// execve's /bin/true with unusual argv: empty strings, a newline, 1,000 arguments.
#include <unistd.h>

#include <string>
#include <vector>

int main() {
    std::vector<std::string> args = {"true", "", "a\nb", "tab\there", "not utf-8: \xff\xfe"};
    for (int i = 0; i < 1000; ++i) args.push_back("arg" + std::to_string(i));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv("/bin/true", argv.data());
    return 127;
}
