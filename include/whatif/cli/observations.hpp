// What the sandbox observed, written into the effect set: the process log, the
// network attempts with what the stub network's sinks learned, and the secrets
// (variables replaced, decoys read or written, canaries that leaked).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "whatif/cli/sandbox_request.hpp"
#include "whatif/effects/effect_set.hpp"
#include "whatif/effects/scanner.hpp"
#include "whatif/sandbox/sandbox.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::cli {

// processes[]: every program the command ran (the exec notifications), the command
// itself with its exit status. argv and cwd: the command as asked, should it never
// have started.
void record_processes(sandbox::RunOutcome& outcome, const std::vector<std::string>& argv,
                      const std::string& cwd, effects::EffectSet& set);

// network[]: name lookups, IP connections and datagrams (matched with their sinks'
// findings), and unix-socket connects (the command's own sockets allowed, the
// host's blocked).
void record_network(const sandbox::RunOutcome& outcome, effects::EffectSet& set);

// Reads of the decoys, seen through inotify (the reading process is not known).
// Destroying an inotify instance waits for an SRCU grace period (~15 ms, measured
// at the end of every run): none is made without decoys, and the last reference
// of one goes to a short-lived orphan, so that whatif's exit does not wait.
class DecoyWatch {
  public:
    static DecoyWatch of(const std::vector<creds::Decoy>& decoys);
    DecoyWatch() = default;
    DecoyWatch(DecoyWatch&&) = default;
    DecoyWatch& operator=(DecoyWatch&&) = default;
    ~DecoyWatch();
    // Collects the reads so far, once: called as soon as the sandbox is gone, before
    // whatif's own scan reads the decoys (in the upper layer) and would be counted.
    void collect();
    // The decoys read (indices), collected by collect().
    const std::set<size_t>& read() const { return read_; }

  private:
    UniqueFd fd_;
    std::map<int, size_t> decoy_of_watch_;
    std::set<size_t> read_;
    bool collected_ = false;
};

// secrets[]: leaks first (canaries in what the sinks captured, in DNS names, in
// files the command wrote: read from `layers`), then decoys read or written, then
// variables replaced. The watch must have been collected.
void record_secrets(const sandbox::RunOutcome& outcome,
                    const std::vector<effects::ScanLayer>& layers,
                    const StubCredentials& credentials, const DecoyWatch& watch,
                    effects::EffectSet& set);

// signals[]: every kill-family call the sandbox saw aimed outside it (kill -9 -1,
// a process group or pid it never had), with the sender's command line.
void record_signals(const sandbox::RunOutcome& outcome, effects::EffectSet& set);

}  // namespace whatif::cli
