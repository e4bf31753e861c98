#include "k8s/api_client.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <openssl/ssl.h>
#include <boost/asio/ssl.hpp>
#include <nlohmann/json.hpp>

#include <mutex>

namespace portico::k8s {

namespace {

using web::http::client::http_client;
using web::http::client::http_client_config;

// How often a token file is read again (client-go re-reads it every minute).
constexpr std::chrono::seconds kTokenRefresh{60};
// Ordinary requests: an answer within this idle time, or the call fails.
constexpr std::chrono::seconds kRequestTimeout{30};

ApiFailure decodeFailure(int status, const std::string& body) {
  ApiFailure f;
  f.status = status;
  try {
    const auto j = nlohmann::json::parse(body);
    if (j.value("kind", "") == "Status") {
      f.reason = j.value("reason", "");
      f.message = j.value("message", "");
      return f;
    }
  } catch (const nlohmann::json::exception&) {
  }
  f.message = body.substr(0, 200);
  return f;
}

}  // namespace

std::string ApiFailure::toString() const {
  if (status == 0) {
    return "no response: " + message;
  }
  return std::to_string(status) + (reason.empty() ? "" : " " + reason) + ": " + message;
}

std::string urlEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct ApiClient::Impl {
  http_client_config configFor(const ApiConfig& c, std::chrono::seconds timeout) {
    http_client_config cfg;
    cfg.set_timeout(timeout);
    cfg.set_validate_certificates(!c.insecure_skip_tls_verify);
    const std::string ca = c.ca_pem;
    const std::string cert = c.client_cert_pem;
    const std::string key = c.client_key_pem;
    cfg.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
      if (!ca.empty()) {
        // Trust only the cluster's CA, not the system roots as well (reference, B.4).
        SSL_CTX_set_cert_store(ctx.native_handle(), X509_STORE_new());
        ctx.add_certificate_authority(boost::asio::buffer(ca.data(), ca.size()));
      }
      if (!cert.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(cert.data(), cert.size()));
        ctx.use_private_key(boost::asio::buffer(key.data(), key.size()),
                            boost::asio::ssl::context::pem);
      }
    });
    return cfg;
  }

  std::string bearer(const ApiConfig& c) {
    const std::lock_guard<std::mutex> lock(mutex);
    if (!c.token_file.empty()) {
      const auto now = std::chrono::steady_clock::now();
      if (token.empty() || now - token_read >= kTokenRefresh) {
        if (auto t = readFile(c.token_file)) {
          token = *t;
          while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())) != 0) {
            token.pop_back();
          }
          token_read = now;
        }
      }
      return token;
    }
    return c.token;
  }

  // One client for ordinary requests, kept for its connection pool (a TLS handshake per status
  // write would be wasted work); streams get a client of their own, with their own idle timeout.
  std::unique_ptr<http_client> requests;
  std::string init_error;
  std::mutex mutex;
  std::string token;
  std::chrono::steady_clock::time_point token_read{};
  pplx::cancellation_token_source cancel;
};

ApiClient::ApiClient(ApiConfig config)
    : config_(std::move(config)), impl_(std::make_unique<Impl>()) {
  try {
    impl_->requests =
        std::make_unique<http_client>(config_.server, impl_->configFor(config_, kRequestTimeout));
  } catch (const std::exception& e) {
    impl_->init_error = "server " + config_.server + ": " + e.what();  // reported by request()
  }
}

ApiClient::~ApiClient() = default;

void ApiClient::cancel() {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->cancel.cancel();
}

ApiResult<ApiResponse> ApiClient::request(const std::string& method, const std::string& path,
                                          const std::string& body,
                                          const std::string& content_type) {
  if (impl_->requests == nullptr) {
    return ApiFailure{0, "", impl_->init_error};
  }
  try {
    http_client& client = *impl_->requests;
    web::http::http_request req(method);
    req.set_request_uri(path);
    req.headers().add("Accept", "application/json");
    const std::string token = impl_->bearer(config_);
    if (!token.empty()) {
      req.headers().add("Authorization", "Bearer " + token);
    }
    if (!body.empty()) {
      req.set_body(body, content_type);
    }
    pplx::cancellation_token ct = [&] {
      const std::lock_guard<std::mutex> lock(impl_->mutex);
      return impl_->cancel.get_token();
    }();
    web::http::http_response resp = client.request(req, ct).get();
    const int status = resp.status_code();
    std::string text = resp.extract_utf8string(true).get();
    if (status < 200 || status >= 300) {
      return decodeFailure(status, text);
    }
    return ApiResponse{status, std::move(text)};
  } catch (const std::exception& e) {
    return ApiFailure{0, "", e.what()};
  }
}

ApiResult<int> ApiClient::stream(const std::string& path,
                                 const std::function<void(std::string_view)>& on_line,
                                 std::chrono::seconds idle_timeout) {
  try {
    http_client client(config_.server, impl_->configFor(config_, idle_timeout));
    web::http::http_request req(web::http::methods::GET);
    req.set_request_uri(path);
    req.headers().add("Accept", "application/json");
    const std::string token = impl_->bearer(config_);
    if (!token.empty()) {
      req.headers().add("Authorization", "Bearer " + token);
    }
    pplx::cancellation_token ct = [&] {
      const std::lock_guard<std::mutex> lock(impl_->mutex);
      return impl_->cancel.get_token();
    }();
    web::http::http_response resp = client.request(req, ct).get();
    const int status = resp.status_code();
    if (status < 200 || status >= 300) {
      return decodeFailure(status, resp.extract_utf8string(true).get());
    }
    // Bytes as they arrive (bumpc waits for one, in_avail drains what is buffered), cut on
    // '\n': one event per line, whatever the chunking (reference, B.3 and A.4).
    auto buf = resp.body().streambuf();
    std::string pending;
    std::vector<std::uint8_t> tmp(64 * 1024);
    while (true) {
      const auto c = buf.bumpc().get();
      if (c == std::char_traits<char>::eof()) {
        break;
      }
      pending.push_back(static_cast<char>(c));
      for (std::size_t avail; (avail = buf.in_avail()) > 0;) {
        const std::size_t n = buf.getn(tmp.data(), std::min(avail, tmp.size())).get();
        pending.append(reinterpret_cast<const char*>(tmp.data()), n);
      }
      std::size_t start = 0;
      for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        if (nl > start) {
          on_line(std::string_view(pending).substr(start, nl - start));
        }
      }
      pending.erase(0, start);
    }
    if (!pending.empty()) {
      on_line(pending);
    }
    return status;
  } catch (const std::exception& e) {
    return ApiFailure{0, "", e.what()};
  }
}

}  // namespace portico::k8s
