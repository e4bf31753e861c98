#pragma once
// A private CA and a server certificate (SAN 127.0.0.1, ::1, localhost) for test-apiserver,
// made with OpenSSL. PEM strings.

#include <string>

namespace portico::apiserver {

struct Certificates {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
};

// Generates new ones; throws std::runtime_error if OpenSSL fails.
Certificates generateCertificates();

}  // namespace portico::apiserver
