#include "k8s/manifest_source.h"

#include "common/strings.h"
#include "model/decode.h"
#include "model/yaml_json.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace portico::k8s {

namespace fs = std::filesystem;

namespace {
bool isManifestName(const std::string& name) {
  return !startsWith(name, ".") &&
         (endsWith(name, ".yaml") || endsWith(name, ".yml") || endsWith(name, ".json"));
}
}  // namespace

ManifestSource::ManifestSource(std::string dir, std::string watch_namespace)
    : dir_(std::move(dir)), watch_namespace_(std::move(watch_namespace)) {}

ManifestSource::~ManifestSource() {
  if (inotify_fd_ >= 0) {
    ::close(inotify_fd_);
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
  }
}

Result<bool> ManifestSource::open() {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    return Error{"--manifests " + dir_ + ": not a directory"};
  }
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ < 0 || wake_fd_ < 0) {
    return Error{std::string("inotify: ") + std::strerror(errno)};
  }
  // Editors and `kubectl`-style tools replace files by rename; watch the directory entries.
  const std::uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
                             IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
  if (::inotify_add_watch(inotify_fd_, dir_.c_str(), mask) < 0) {
    return Error{"--manifests " + dir_ + ": inotify: " + std::strerror(errno)};
  }
  return true;
}

void ManifestSource::parseInto(const std::string& name, const std::string& content,
                               FileState* file) {
  file->content = content;
  const auto format = endsWith(name, ".json") ? model::TextFormat::kJson : model::TextFormat::kYaml;
  auto docs = model::parseManifestText(content, format);
  if (!docs) {
    file->parse_error = docs.error();  // keep serving the objects it last held
    return;
  }
  file->parse_error.clear();
  file->object_errors.clear();
  file->objects.clear();
  for (std::size_t i = 0; i < docs->size(); ++i) {
    auto obj = model::decodeObject((*docs)[i]);
    if (!obj) {
      file->object_errors.push_back("document " + std::to_string(i + 1) + ": " + obj.error());
      continue;
    }
    if (!obj->has_value()) {
      continue;  // a kind portico does not read
    }
    const auto& meta = model::metaOf(**obj);
    if (!watch_namespace_.empty() && !meta.namespace_.empty() &&
        meta.namespace_ != watch_namespace_) {
      continue;
    }
    file->objects.push_back(std::move(**obj));
  }
}

bool ManifestSource::reload() {
  std::map<std::string, std::string> contents;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!isManifestName(name) || !it->is_regular_file(ec)) {
      continue;
    }
    if (auto w = writing_.find(name);
        w != writing_.end() && std::chrono::steady_clock::now() - w->second < kMaxWriteTime) {
      // Mid-write: keep what it held (a new file being written is not there yet).
      if (auto f = files_.find(name); f != files_.end()) {
        contents[name] = f->second.content;
      }
      continue;
    }
    std::ifstream in(it->path(), std::ios::binary);
    if (!in) {
      continue;  // vanished between listing and reading: the next event covers it
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    contents[name] = ss.str();
  }
  bool changed_files = false;
  for (auto it = files_.begin(); it != files_.end();) {
    if (contents.count(it->first) == 0) {
      it = files_.erase(it);
      changed_files = true;
    } else {
      ++it;
    }
  }
  for (auto& [name, content] : contents) {
    auto [it, inserted] = files_.try_emplace(name);
    if (inserted || it->second.content != content) {
      parseInto(name, content, &it->second);
      changed_files = true;
    }
  }
  if (!changed_files) {
    return false;
  }
  model::ClusterState next = merge();
  if (next == state_) {
    return false;
  }
  state_ = std::move(next);
  return true;
}

model::ClusterState ManifestSource::merge() {
  model::ClusterState out;
  merge_errors_.clear();
  std::map<std::string, std::string> owner;  // "Kind key" -> file
  for (const auto& [name, file] : files_) {
    for (const auto& obj : file.objects) {
      const std::string id = std::string(model::kindOf(obj)) + " " + model::metaOf(obj).key();
      auto [it, inserted] = owner.try_emplace(id, name);
      if (!inserted) {
        merge_errors_.push_back(name + ": " + id + " is also in " + it->second + "; the copy in " +
                                name + " is used");
        it->second = name;
      }
      out.upsert(obj);
    }
  }
  return out;
}

std::vector<std::string> ManifestSource::errors() const {
  std::vector<std::string> out = merge_errors_;
  for (const auto& [name, file] : files_) {
    if (!file.parse_error.empty()) {
      out.push_back(name + ": " + file.parse_error +
                    (file.objects.empty() ? "" : " (still serving its previous content)"));
    }
    for (const auto& e : file.object_errors) {
      out.push_back(name + ": " + e);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool ManifestSource::waitForChange(std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const int n = ::poll(fds, 2, static_cast<int>(timeout.count()));
  if (n <= 0) {
    return false;
  }
  bool changed = false;
  if ((fds[0].revents & POLLIN) != 0) {
    alignas(inotify_event) char buf[8192];
    ssize_t got = 0;
    while ((got = ::read(inotify_fd_, buf, sizeof(buf))) > 0) {
      noteEvents(buf, static_cast<std::size_t>(got));
      changed = true;  // reload() compares contents
    }
  }
  if ((fds[1].revents & POLLIN) != 0) {
    std::uint64_t v = 0;
    [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &v, sizeof(v));
  }
  return changed;
}

void ManifestSource::noteEvents(const char* buf, std::size_t n) {
  for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
    const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
    off += sizeof(inotify_event) + ev->len;
    if (ev->len == 0) {
      continue;  // an event on the directory itself
    }
    const std::string name(ev->name);
    if ((ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) != 0) {
      writing_.erase(name);  // complete, or gone
    } else if ((ev->mask & IN_MODIFY) != 0) {
      writing_.try_emplace(name, std::chrono::steady_clock::now());
    }
  }
}

void ManifestSource::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t r = ::write(wake_fd_, &one, sizeof(one));
}

}  // namespace portico::k8s
