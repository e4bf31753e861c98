#pragma once
// A temporary directory removed with everything in it when the object goes.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace portico::testing {

class TempDir final {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "portico-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes through a temporary file and a rename, as editors and config tools do.
  void write(const std::string& name, const std::string& content) const {
    const std::string tmp = path_ + "/." + name + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary);
      out << content;
    }
    std::filesystem::rename(tmp, path_ + "/" + name);
  }
  void remove(const std::string& name) const { std::filesystem::remove(path_ + "/" + name); }

 private:
  std::string path_;
};

}  // namespace portico::testing
