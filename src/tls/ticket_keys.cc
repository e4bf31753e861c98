#include "tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <cstring>

namespace portico::tls {

namespace {

int ticketKeysIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool setHmacKey(EVP_MAC_CTX* hctx, TicketKeys::Key& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

// OpenSSL's ticket key callback: 1 with a key set up, 2 (decrypt) when OpenSSL is to issue a
// fresh ticket, 0 for "no such key: a full handshake", -1 on error. A fresh ticket goes out when
// the key is the previous one, and on every TLS 1.3 resumption: TLS 1.3 clients use a ticket
// once (RFC 8446 C.4; OpenSSL's own client does), so a resumption that gave none would make the
// client's next connection a full handshake.
int onTicket(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* ctx,
             EVP_MAC_CTX* hctx, int enc) {
  auto* keys = static_cast<TicketKeys*>(SSL_get_ex_data(ssl, ticketKeysIndex()));
  if (keys == nullptr) {
    return -1;
  }
  if (enc == 1) {
    TicketKeys::Key key = keys->current();
    std::memcpy(key_name, key.name.data(), key.name.size());
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
        EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1 ||
        !setHmacKey(hctx, key)) {
      return -1;
    }
    return 1;
  }
  TicketKeys::Key key;
  bool previous = false;
  if (!keys->find(key_name, key, previous)) {
    return 0;
  }
  if (!setHmacKey(hctx, key) ||
      EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1) {
    return -1;
  }
  return previous || SSL_version(ssl) >= TLS1_3_VERSION ? 2 : 1;
}

}  // namespace

TicketKeys::TicketKeys(std::chrono::seconds period, Clock clock)
    : period_(period), clock_(std::move(clock)) {
  const std::lock_guard<std::mutex> lock(mutex_);
  rotateLocked(now());
  rotations_ = 0;
}

std::chrono::steady_clock::time_point TicketKeys::now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

void TicketKeys::install(ssl_ctx_st* ctx) { SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, onTicket); }

void TicketKeys::attach(ssl_st* ssl) { SSL_set_ex_data(ssl, ticketKeysIndex(), this); }

void TicketKeys::rotateLocked(std::chrono::steady_clock::time_point t) {
  previous_ = current_;
  RAND_bytes(current_.name.data(), static_cast<int>(current_.name.size()));
  RAND_bytes(current_.aes.data(), static_cast<int>(current_.aes.size()));
  RAND_bytes(current_.hmac.data(), static_cast<int>(current_.hmac.size()));
  since_ = t;
  ++rotations_;
}

void TicketKeys::maybeRotateLocked() {
  const auto t = now();
  if (t - since_ >= period_) {
    rotateLocked(t);
  }
}

void TicketKeys::rotate() {
  const std::lock_guard<std::mutex> lock(mutex_);
  rotateLocked(now());
}

std::uint64_t TicketKeys::rotations() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return rotations_;
}

TicketKeys::Key TicketKeys::current() {
  const std::lock_guard<std::mutex> lock(mutex_);
  maybeRotateLocked();
  return current_;
}

bool TicketKeys::find(const unsigned char* name, Key& out, bool& previous) {
  const std::lock_guard<std::mutex> lock(mutex_);
  maybeRotateLocked();
  if (std::memcmp(name, current_.name.data(), current_.name.size()) == 0) {
    out = current_;
    previous = false;
    return true;
  }
  if (rotations_ > 0 && std::memcmp(name, previous_.name.data(), previous_.name.size()) == 0) {
    out = previous_;
    previous = true;
    return true;
  }
  return false;
}

}  // namespace portico::tls
