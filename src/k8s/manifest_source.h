#pragma once
// The manifest-directory source: how portico runs without a cluster (`--manifests DIR`).
//
// Semantics (DESIGN.md, "Manifest directory semantics"): every *.yaml, *.yml and *.json file
// directly in DIR is read whole; its objects replace what that file held before. A file that no
// longer parses keeps what it last held, with an error naming the file; an invalid object is
// reported with file, object and field and left out; a deleted file takes its objects with it.
// When two files hold the same object, the file whose name sorts last wins, with an error.
//
// A file is read only when it is complete: one that is being written in place (truncated, then
// written, as `cat > f`, editors and Python's open(f, "w") do) keeps serving what it held until
// the writer closes it (inotify IN_CLOSE_WRITE) or a complete file is moved over it
// (IN_MOVED_TO); a writer that keeps a file open longer than kMaxWriteTime is read anyway.
//
// Threads: reload() and state() belong to one thread (the source's); waitForChange() blocks
// that thread on inotify; wake() may be called from any thread to interrupt it.

#include "common/result.h"
#include "model/cluster_state.h"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace portico::k8s {

class ManifestSource final {
 public:
  // `watch_namespace` empty: every namespace.
  explicit ManifestSource(std::string dir, std::string watch_namespace = {});
  ~ManifestSource();
  ManifestSource(const ManifestSource&) = delete;
  ManifestSource& operator=(const ManifestSource&) = delete;

  // Starts watching DIR; an error when it is not a readable directory.
  Result<bool> open();
  // Reads changed files; returns true when the merged state changed.
  bool reload();
  const model::ClusterState& state() const { return state_; }
  // Current problems, one line each: "FILE: message", sorted.
  std::vector<std::string> errors() const;

  // Blocks until something in DIR changes, wake() is called, or the timeout passes.
  // Returns true when the directory changed.
  bool waitForChange(std::chrono::milliseconds timeout);
  void wake();

 private:
  struct FileState {
    std::string content;
    std::vector<model::Object> objects;  // from the last content that parsed
    std::string parse_error;             // set while the current content does not parse
    std::vector<std::string> object_errors;
  };
  // A file held open for writing longer than this is read as it is (a stuck writer must not
  // freeze its objects forever).
  static constexpr std::chrono::seconds kMaxWriteTime{30};

  void parseInto(const std::string& name, const std::string& content, FileState* file);
  void noteEvents(const char* buf, std::size_t n);
  model::ClusterState merge();

  std::string dir_;
  std::string watch_namespace_;
  std::map<std::string, FileState> files_;
  model::ClusterState state_;
  std::vector<std::string> merge_errors_;
  // Files modified since their last close: name -> when the first write was seen.
  std::map<std::string, std::chrono::steady_clock::time_point> writing_;
  int inotify_fd_ = -1;
  int wake_fd_ = -1;
};

}  // namespace portico::k8s
