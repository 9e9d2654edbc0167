// Drives a program through a real pseudo-terminal, as a person would.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace whatif::test {

class PtySession {
  public:
    PtySession(const std::string& exe, const std::vector<std::string>& args, const std::string& cwd,
               const std::map<std::string, std::string>& env);
    ~PtySession();
    // Reads until `text` appears in the output (true) or `seconds` pass (false).
    bool wait_for(const std::string& text, int seconds = 20);
    void send(const std::string& text);
    int wait_exit();  // exit status
    const std::string& output() const { return output_; }

  private:
    int master_ = -1;
    int pid_ = -1;
    std::string output_;
};

}  // namespace whatif::test
