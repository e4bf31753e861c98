#include "proxy/session.h"

#include "common/log.h"
#include "common/strings.h"
#include "proxy/http_util.h"

namespace portico::proxy {

namespace {
constexpr std::size_t kMaxResponseHeaderBytes = 64 * 1024;
// After an error response, how long unread request bytes are drained before the socket closes,
// so that a client still sending does not get a reset that destroys the response (nginx's
// lingering close).
constexpr std::chrono::seconds kLingerTimeout{2};
constexpr std::size_t kLingerMaxBytes = 1 << 20;
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr char kCrlf[] = "\r\n";
constexpr char kLastChunk[] = "0\r\n\r\n";

bool isTimeout(error_code ec) { return ec == beast::error::timeout; }
}  // namespace

unsigned proxyErrorStatus(const ProxyError& error) {
  switch (error.cause) {
    case Cause::kMalformed:
      return 400;
    case Cause::kHeadersTooLarge:
      return 431;
    case Cause::kBodyTooLarge:
      return 413;
    case Cause::kClientTimeout:
      return 408;
    case Cause::kNoRoute:
      return 404;
    case Cause::kNoEndpoint:
      return 503;
    case Cause::kTimeout:
      return 504;
    case Cause::kRefused:
    case Cause::kInvalidResponse:
      return 502;
  }
  return 500;
}

const char* phaseName(Phase phase) {
  switch (phase) {
    case Phase::kReadHeader:
      return "readHeader";
    case Phase::kRoute:
      return "route";
    case Phase::kSelectUpstream:
      return "selectUpstream";
    case Phase::kConnect:
      return "connect";
    case Phase::kForwardRequest:
      return "forwardRequest";
    case Phase::kUpstreamHeaders:
      return "upstreamHeaders";
    case Phase::kForwardBody:
      return "forwardBody";
  }
  return "unknown";
}

Session::Session(Worker& worker, tcp::socket socket)
    : worker_(worker), stream_(std::move(socket)), header_timer_(worker.ioc) {
  buffer_.reserve(kReadBufferReserve);
  worker_.sessions.insert(this);
  worker_.session_count.fetch_add(1, std::memory_order_relaxed);
  worker_.metrics.connections_active.add(1);
  error_code ec;
  const auto remote = stream_.socket().remote_endpoint(ec);
  if (!ec) {
    client_address_ = remote.address().to_string();
  }
  stream_.socket().set_option(tcp::no_delay(true), ec);
}

Session::~Session() {
  worker_.sessions.erase(this);
  worker_.metrics.connections_active.add(-1);
  worker_.session_count.fetch_sub(1, std::memory_order_relaxed);
}

void Session::start() { doReadRequest(); }

void Session::drain() {
  if (idle_) {
    close();
  }
}

// ---- readHeader ---------------------------------------------------------------------------

void Session::doReadRequest() {
  if (worker_.draining && !first_request_) {
    close();
    return;
  }
  if (first_request_ || buffer_.size() > 0) {
    doReadHeader();
    return;
  }
  // Between requests: wait for the first byte under the keep-alive timeout.
  idle_ = true;
  stream_.expires_after(worker_.config.keepalive_timeout);
  stream_.async_read_some(buffer_.prepare(4096),
                          beast::bind_front_handler(&Session::onIdleRead, shared_from_this()));
}

void Session::onIdleRead(error_code ec, std::size_t n) {
  idle_ = false;
  if (ec) {
    close();  // idle timeout, client closed, or drained: nothing to answer
    return;
  }
  buffer_.commit(n);
  doReadHeader();
}

void Session::doReadHeader() {
  head_request_ = false;
  response_started_ = false;
  req_parser_.emplace();
  req_parser_->header_limit(static_cast<std::uint32_t>(worker_.config.max_header_bytes));
  if (worker_.config.max_body_size > 0) {
    req_parser_->body_limit(worker_.config.max_body_size);
  } else {
    req_parser_->body_limit(kUnlimitedBody);
  }
  stream_.expires_never();
  header_timed_out_ = false;
  header_timer_.expires_after(worker_.config.client_header_timeout);
  header_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) {
      self->header_timed_out_ = true;
      error_code ignored;
      self->stream_.socket().cancel(ignored);
    }
  });
  http::async_read_header(stream_, buffer_, *req_parser_,
                          beast::bind_front_handler([](std::shared_ptr<Session> self, error_code ec,
                                                       std::size_t) { self->onReadHeader(ec); },
                                                    shared_from_this()));
}

void Session::onReadHeader(error_code ec) {
  const bool was_first = first_request_;
  first_request_ = false;
  header_timer_.cancel();
  if (header_timed_out_ && ec == net::error::operation_aborted && !closed_) {
    if (was_first && buffer_.size() == 0 && !req_parser_->got_some()) {
      close();  // a connection that never sent anything gets no answer
      return;
    }
    fail({Phase::kReadHeader, Cause::kClientTimeout});
    return;
  }
  if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || closed_) {
    close();
    return;
  }
  if (ec == http::error::body_limit) {
    fail({Phase::kReadHeader, Cause::kBodyTooLarge});  // a Content-Length over the limit
    return;
  }
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    fail({Phase::kReadHeader, Cause::kHeadersTooLarge});
    return;
  }
  if (ec == net::error::connection_reset || ec == net::error::broken_pipe ||
      ec == net::error::eof) {
    close();
    return;
  }
  if (ec) {
    log::debug("malformed request", {{"error", ec.message()}, {"client", client_address_}});
    fail({Phase::kReadHeader, Cause::kMalformed});
    return;
  }
  route();
}

// ---- route --------------------------------------------------------------------------------

void Session::route() {
  auto& req = req_parser_->get();
  client_keep_alive_ = req.keep_alive();
  client_version_ = req.version();
  head_request_ = req.method() == http::verb::head;
  response_started_ = false;
  request_body_started_ = false;
  attempts_ = 0;

  // Request smuggling guards: Beast rejects Content-Length after Transfer-Encoding and
  // conflicting lengths; reject the remaining ambiguous forms too (RFC 9112 6.1, 6.3).
  const bool has_te = req.find(http::field::transfer_encoding) != req.end();
  const bool has_cl = req.find(http::field::content_length) != req.end();
  if ((has_te && has_cl) || (has_te && !req_parser_->chunked()) ||
      (req.version() >= 11 && req.find(http::field::host) == req.end()) ||
      req.method() == http::verb::unknown || req.version() < 10) {
    fail({Phase::kRoute, Cause::kMalformed});
    return;
  }

  snapshot_ = worker_.snapshot;
  std::string_view authority;
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = requestPath(target, &authority);
  std::string_view host = authority;
  if (host.empty()) {
    const auto h = req[http::field::host];
    host = std::string_view(h.data(), h.size());
  }
  if (snapshot_ == nullptr) {
    fail({Phase::kRoute, Cause::kNoRoute});
    return;
  }
  const snapshot::RouteMatch match = snapshot_->lookup(host, path);
  if (match.target_group == nullptr) {
    fail({Phase::kRoute, Cause::kNoRoute});
    return;
  }
  target_group_ = match.target_group;

  // The request as the upstream sees it (DESIGN.md, "What the proxy promises"), written once
  // and reused if the request is retried.
  upgrade_request_ = req.find(http::field::upgrade) != req.end() &&
                     http::token_list(req[http::field::connection]).exists("upgrade");
  const auto expect = req[http::field::expect];
  expect_continue_ = iequals(std::string_view(expect.data(), expect.size()), "100-continue");
  chunked_up_ = req_parser_->chunked();
  const bool has_request_id = req.find("X-Request-Id") != req.end();
  UpstreamRequestHead head;
  head.client_address = client_address_;
  head.host = host;
  head.listener_port = worker_.listen_port_text;
  std::string request_id;
  if (!has_request_id) {
    request_id = worker_.newRequestId();
    head.request_id = request_id;
  }
  head.chunked = chunked_up_;
  const auto upgrade = req[http::field::upgrade];
  if (upgrade_request_) {
    head.upgrade = std::string_view(upgrade.data(), upgrade.size());
  }
  request_head_.clear();
  appendRequestHead(req, head, request_head_);
  selectUpstream();
}

// ---- selectUpstream / connect -------------------------------------------------------------

void Session::selectUpstream() {
  ++attempts_;
  const snapshot::Endpoint* endpoint = worker_.balancer.pick(*target_group_);
  if (endpoint == nullptr) {
    fail({Phase::kSelectUpstream, Cause::kNoEndpoint});
    return;
  }
  const std::string key = endpointKey(endpoint->address, endpoint->port);
  upstream_ = worker_.pool.take(key);
  if (upstream_ != nullptr) {
    worker_.metrics.upstream_reuses.inc();
    forwardRequest();
    return;
  }
  doConnect(*endpoint);
}

void Session::doConnect(const snapshot::Endpoint& endpoint) {
  upstream_ = std::make_unique<UpstreamConn>(worker_.ioc);
  upstream_->key = endpointKey(endpoint.address, endpoint.port);
  error_code ec;
  const auto address = net::ip::make_address(endpoint.address, ec);
  if (ec) {
    onConnect(ec);
    return;
  }
  upstream_->stream.expires_after(worker_.config.upstream_connect_timeout);
  upstream_->stream.async_connect(
      tcp::endpoint(address, endpoint.port),
      beast::bind_front_handler(&Session::onConnect, shared_from_this()));
}

void Session::onConnect(error_code ec) {
  if (closed_) {
    return;
  }
  if (ec) {
    worker_.metrics.upstream_connect_errors.inc();
    log::warn("upstream connect failed",
              {{"endpoint", upstream_->key}, {"error", ec.message()}, {"attempt", attempts_}});
    upstreamFailed(Phase::kConnect, ec);
    return;
  }
  error_code ignored;
  upstream_->stream.socket().set_option(tcp::no_delay(true), ignored);
  forwardRequest();
}

// ---- forwardRequest -----------------------------------------------------------------------

void Session::forwardRequest() {
  request_head_sent_ = false;
  if (expect_continue_ && !req_parser_->is_done()) {
    // The client waits for this before sending its body; answer it ourselves, as nginx does.
    expect_continue_ = false;
    stream_.expires_after(worker_.config.client_body_timeout);
    net::async_write(stream_, net::buffer(kContinue, sizeof(kContinue) - 1),
                     beast::bind_front_handler([](std::shared_ptr<Session> self, error_code ec,
                                                  std::size_t) { self->onWriteContinue(ec); },
                                               shared_from_this()));
    return;
  }
  doReadRequestBody();
}

void Session::onWriteContinue(error_code ec) {
  if (ec) {
    close();
    return;
  }
  doReadRequestBody();
}

void Session::doReadRequestBody() {
  if (req_parser_->is_done()) {
    writeRequestPiece(0);
    return;
  }
  auto& body = req_parser_->get().body();
  body.data = request_buf_.data();
  body.size = request_buf_.size();
  stream_.expires_after(worker_.config.client_body_timeout);
  http::async_read_some(stream_, buffer_, *req_parser_,
                        beast::bind_front_handler([](std::shared_ptr<Session> self, error_code ec,
                                                     std::size_t) { self->onReadRequestBody(ec); },
                                                  shared_from_this()));
}

void Session::onReadRequestBody(error_code ec) {
  if (ec == http::error::need_buffer) {
    ec = {};
  }
  if (ec) {
    upstream_.reset();  // a half-sent request: that connection cannot be reused
    if (ec == http::error::body_limit) {
      fail({Phase::kForwardRequest, Cause::kBodyTooLarge});
    } else if (isTimeout(ec)) {
      fail({Phase::kForwardRequest, Cause::kClientTimeout});
    } else if (ec == http::error::partial_message || ec == net::error::eof ||
               ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      close();  // the client went away
    } else {
      fail({Phase::kForwardRequest, Cause::kMalformed});
    }
    return;
  }
  const std::size_t n = request_buf_.size() - req_parser_->get().body().size;
  if (n == 0 && !req_parser_->is_done()) {
    doReadRequestBody();  // only framing was read (a chunk header)
    return;
  }
  request_body_started_ = request_body_started_ || n > 0;
  writeRequestPiece(n);
}

// Head (until it is sent), then n bytes of body, framed as chunked or raw; the last chunk when
// the body ends.
Gather Session::framePiece(const std::string& head, bool head_sent, bool chunked,
                           std::array<char, 20>& prefix, const char* data, std::size_t n,
                           bool last) {
  Gather out;
  if (!head_sent) {
    out.add(net::buffer(head));
  }
  if (chunked && n > 0) {
    out.add(net::buffer(prefix.data(), chunkPrefix(n, prefix.data())));
  }
  out.add(net::buffer(data, n));
  if (chunked && n > 0) {
    out.add(net::buffer(kCrlf, 2));
  }
  if (chunked && last) {
    out.add(net::buffer(kLastChunk, sizeof(kLastChunk) - 1));
  }
  return out;
}

void Session::writeRequestPiece(std::size_t n) {
  const bool last = req_parser_->is_done();
  const Gather out = framePiece(request_head_, request_head_sent_, chunked_up_,
                                request_chunk_prefix_, request_buf_.data(), n, last);
  upstream_->stream.expires_after(worker_.config.upstream_response_timeout);
  net::async_write(
      upstream_->stream, out,
      beast::bind_front_handler([last](std::shared_ptr<Session> self, error_code ec,
                                       std::size_t) { self->onWriteRequest(ec, last); },
                                shared_from_this()));
}

void Session::onWriteRequest(error_code ec, bool last) {
  if (closed_) {
    return;
  }
  if (ec) {
    upstreamFailed(Phase::kForwardRequest, ec);
    return;
  }
  request_head_sent_ = true;
  if (last) {
    doReadResponseHeader();
  } else {
    doReadRequestBody();
  }
}

// ---- upstreamHeaders ----------------------------------------------------------------------

void Session::doReadResponseHeader() {
  res_parser_.emplace();
  res_parser_->body_limit(kUnlimitedBody);
  res_parser_->header_limit(kMaxResponseHeaderBytes);
  if (head_request_) {
    res_parser_->skip(true);
  }
  upstream_->stream.expires_after(worker_.config.upstream_response_timeout);
  http::async_read_header(
      upstream_->stream, upstream_->buffer, *res_parser_,
      beast::bind_front_handler([](std::shared_ptr<Session> self, error_code ec,
                                   std::size_t) { self->onReadResponseHeader(ec); },
                                shared_from_this()));
}

void Session::onReadResponseHeader(error_code ec) {
  if (closed_) {
    return;
  }
  if (ec) {
    upstreamFailed(Phase::kUpstreamHeaders, ec);
    return;
  }
  auto& res = res_parser_->get();
  const unsigned status = res.result_int();
  if (status >= 100 && status < 200 && status != 101) {
    doReadResponseHeader();  // interim responses: the client already had its 100 from us
    return;
  }
  if (status == 101 && !upgrade_request_) {
    upstreamFailed(Phase::kUpstreamHeaders, http::error::bad_status);
    return;
  }
  if (!res.keep_alive()) {
    upstream_->key.clear();  // not returned to the pool
  }
  ClientResponseHead head;
  head.date = worker_.date();
  header_only_response_ = head_request_ || status < 200 || status == 204 || status == 304;
  const auto upgrade = res[http::field::upgrade];
  if (status == 101) {
    head.connection = ConnectionHeader::kUpgrade;
    head.upgrade = std::string_view(upgrade.data(), upgrade.size());
  } else {
    bool keep_alive = client_keep_alive_ && !worker_.draining;
    const bool http10_client = client_version_ < 11;
    const bool framed = res_parser_->content_length().has_value();
    if (http10_client) {
      // HTTP/1.0 has no chunked: without a length, the body ends when the connection does.
      keep_alive = keep_alive && (framed || header_only_response_);
    } else {
      // Chunked stays chunked; a body delimited by the upstream closing becomes chunked.
      head.chunked = !framed && (res_parser_->chunked() || !header_only_response_);
    }
    if (http10_client) {
      head.connection = keep_alive ? ConnectionHeader::kKeepAlive : ConnectionHeader::kNone;
    } else {
      head.connection = keep_alive ? ConnectionHeader::kNone : ConnectionHeader::kClose;
    }
    client_keep_alive_ = keep_alive;
  }
  chunked_down_ = head.chunked && !header_only_response_;
  response_head_.clear();
  appendResponseHead(res, head, response_head_);
  response_head_sent_ = false;
  response_started_ = true;
  if (header_only_response_) {
    stream_.expires_after(worker_.config.upstream_response_timeout);
    net::async_write(stream_, net::buffer(response_head_),
                     beast::bind_front_handler([](std::shared_ptr<Session> self, error_code ec,
                                                  std::size_t) { self->onWriteResponse(ec, true); },
                                               shared_from_this()));
    return;
  }
  doReadResponseBody();
}

// ---- forwardBody --------------------------------------------------------------------------

void Session::doReadResponseBody() {
  if (res_parser_->is_done()) {
    writeResponsePiece(0);
    return;
  }
  auto& body = res_parser_->get().body();
  body.data = response_buf_.data();
  body.size = response_buf_.size();
  upstream_->stream.expires_after(worker_.config.upstream_response_timeout);
  http::async_read_some(upstream_->stream, upstream_->buffer, *res_parser_,
                        beast::bind_front_handler([](std::shared_ptr<Session> self, error_code ec,
                                                     std::size_t) { self->onReadResponseBody(ec); },
                                                  shared_from_this()));
}

void Session::onReadResponseBody(error_code ec) {
  if (ec == http::error::need_buffer) {
    ec = {};
  }
  if (closed_) {
    return;
  }
  if (ec) {
    // Part of the response already reached the client: the only honest signal left is to
    // close the connection, so the client sees a truncated message.
    log::warn("upstream failed mid-response", {{"phase", phaseName(Phase::kForwardBody)},
                                               {"endpoint", upstream_->key},
                                               {"error", ec.message()}});
    worker_.metrics.requestsFor(502).inc();
    upstream_.reset();
    close();
    return;
  }
  const std::size_t n = response_buf_.size() - res_parser_->get().body().size;
  if (n == 0 && !res_parser_->is_done()) {
    doReadResponseBody();  // only framing was read (a chunk header)
    return;
  }
  writeResponsePiece(n);
}

void Session::writeResponsePiece(std::size_t n) {
  const bool last = res_parser_->is_done();
  const Gather out = framePiece(response_head_, response_head_sent_, chunked_down_,
                                response_chunk_prefix_, response_buf_.data(), n, last);
  stream_.expires_after(worker_.config.upstream_response_timeout);
  net::async_write(
      stream_, out,
      beast::bind_front_handler([last](std::shared_ptr<Session> self, error_code ec,
                                       std::size_t) { self->onWriteResponse(ec, last); },
                                shared_from_this()));
}

void Session::onWriteResponse(error_code ec, bool last) {
  if (ec) {
    upstream_.reset();
    close();  // the client went away
    return;
  }
  response_head_sent_ = true;
  if (res_parser_->get().result_int() == 101) {
    startTunnel();
    return;
  }
  if (last) {
    finishRequest();
  } else {
    doReadResponseBody();
  }
}

void Session::finishRequest() {
  worker_.metrics.requestsFor(res_parser_->get().result_int()).inc();
  if (upstream_ != nullptr && !upstream_->key.empty() && res_parser_->is_done() &&
      upstream_->buffer.size() == 0) {
    worker_.pool.put(std::move(upstream_));
  }
  upstream_.reset();
  snapshot_.reset();
  target_group_ = nullptr;
  if (!client_keep_alive_ || worker_.draining) {
    shutdownAndLinger();
    return;
  }
  doReadRequest();
}

// ---- failures -----------------------------------------------------------------------------

bool Session::retryable(Phase phase) const {
  if (attempts_ >= worker_.config.max_attempts || request_body_started_ || response_started_) {
    return false;
  }
  if (phase == Phase::kConnect) {
    return true;  // nothing reached the upstream
  }
  // A pooled connection the upstream had closed: the request may not have been seen, but it
  // may have: only idempotent requests go again.
  return upstream_ != nullptr && upstream_->reused && isIdempotent(req_parser_->get().method());
}

void Session::upstreamFailed(Phase phase, error_code ec) {
  const bool timeout = isTimeout(ec);
  if (retryable(phase) && !timeout) {
    worker_.metrics.upstream_retries.inc();
    upstream_.reset();
    selectUpstream();
    return;
  }
  if (phase != Phase::kConnect) {
    log::warn("upstream request failed", {{"phase", phaseName(phase)},
                                          {"endpoint", upstream_ ? upstream_->key : ""},
                                          {"error", ec.message()}});
  }
  upstream_.reset();
  Cause cause = timeout ? Cause::kTimeout : Cause::kRefused;
  if (ec == http::error::bad_status ||
      ec.category() == http::make_error_code(http::error::bad_version).category()) {
    cause = Cause::kInvalidResponse;
  }
  fail({phase, cause});
}

void Session::fail(const ProxyError& error) {
  if (response_started_) {
    close();
    return;
  }
  const unsigned status = proxyErrorStatus(error);
  // Keep the connection only when the request was read whole and the framing is trustworthy.
  const bool keep_alive = client_keep_alive_ && req_parser_ && req_parser_->is_done() &&
                          status != 400 && status != 408 && status != 413 && status != 431;
  respondLocal(status, keep_alive);
}

void Session::respondLocal(unsigned status, bool keep_alive) {
  keep_alive = keep_alive && !worker_.draining;
  worker_.metrics.requestsFor(status).inc();
  response_head_.clear();
  appendLocalResponse(status, worker_.date(), keep_alive, head_request_, response_head_);
  response_started_ = true;
  stream_.expires_after(worker_.config.client_header_timeout);
  net::async_write(
      stream_, net::buffer(response_head_),
      beast::bind_front_handler([keep_alive](std::shared_ptr<Session> self, error_code ec,
                                             std::size_t) { self->onWriteLocal(ec, keep_alive); },
                                shared_from_this()));
}

void Session::onWriteLocal(error_code ec, bool keep_alive) {
  snapshot_.reset();
  if (ec) {
    close();
    return;
  }
  if (!keep_alive) {
    shutdownAndLinger();
    return;
  }
  doReadRequest();
}

// ---- tunnel (Upgrade) ---------------------------------------------------------------------

void Session::startTunnel() {
  worker_.metrics.requestsFor(101).inc();
  stream_.expires_never();
  upstream_->stream.expires_never();
  tunnel_open_directions_ = 2;
  tunnel_timer_.emplace(worker_.ioc);
  armTunnelIdle();
  // Bytes that arrived behind the headers go first.
  auto self = shared_from_this();
  if (buffer_.size() > 0) {
    net::async_write(upstream_->stream.socket(), buffer_.data(),
                     [self](error_code ec, std::size_t n) {
                       if (ec) {
                         self->closeTunnel();
                         return;
                       }
                       self->buffer_.consume(n);
                       self->pumpTunnel(true);
                     });
  } else {
    pumpTunnel(true);
  }
  if (upstream_->buffer.size() > 0) {
    net::async_write(stream_.socket(), upstream_->buffer.data(),
                     [self](error_code ec, std::size_t n) {
                       if (ec) {
                         self->closeTunnel();
                         return;
                       }
                       self->upstream_->buffer.consume(n);
                       self->pumpTunnel(false);
                     });
  } else {
    pumpTunnel(false);
  }
}

void Session::pumpTunnel(bool client_to_upstream) {
  if (closed_ || upstream_ == nullptr) {
    return;
  }
  tcp::socket& from = client_to_upstream ? stream_.socket() : upstream_->stream.socket();
  auto& buf = client_to_upstream ? request_buf_ : response_buf_;
  auto self = shared_from_this();
  from.async_read_some(net::buffer(buf), [self, client_to_upstream](error_code ec, std::size_t n) {
    if (self->closed_ || self->upstream_ == nullptr) {
      return;
    }
    tcp::socket& to =
        client_to_upstream ? self->upstream_->stream.socket() : self->stream_.socket();
    if (ec) {
      // One side finished: pass the end on, and close once both have.
      error_code ignored;
      to.shutdown(tcp::socket::shutdown_send, ignored);
      if (--self->tunnel_open_directions_ == 0 || ec != net::error::eof) {
        self->closeTunnel();
      }
      return;
    }
    self->tunnel_active_flag_ = true;
    auto& b = client_to_upstream ? self->request_buf_ : self->response_buf_;
    net::async_write(to, net::buffer(b.data(), n),
                     [self, client_to_upstream](error_code wec, std::size_t) {
                       if (wec) {
                         self->closeTunnel();
                         return;
                       }
                       self->pumpTunnel(client_to_upstream);
                     });
  });
}

void Session::armTunnelIdle() {
  tunnel_timer_->expires_after(worker_.config.tunnel_idle_timeout);
  tunnel_timer_->async_wait([self = shared_from_this()](error_code ec) {
    if (ec || self->closed_) {
      return;
    }
    if (!self->tunnel_active_flag_) {
      self->closeTunnel();
      return;
    }
    self->tunnel_active_flag_ = false;
    self->armTunnelIdle();
  });
}

void Session::closeTunnel() {
  if (tunnel_timer_) {
    tunnel_timer_->cancel();
  }
  if (upstream_ != nullptr) {
    error_code ignored;
    upstream_->stream.socket().close(ignored);
    upstream_.reset();
  }
  close();
}

// ---- closing ------------------------------------------------------------------------------

void Session::shutdownAndLinger() {
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    close();
    return;
  }
  doLinger();
}

void Session::doLinger() {
  stream_.expires_after(kLingerTimeout);
  stream_.async_read_some(net::buffer(request_buf_),
                          [self = shared_from_this()](error_code ec, std::size_t n) {
                            self->linger_bytes_ += n;
                            if (ec || self->linger_bytes_ > kLingerMaxBytes) {
                              self->close();
                              return;
                            }
                            self->doLinger();
                          });
}

void Session::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  idle_ = false;
  error_code ec;
  stream_.socket().close(ec);
}

}  // namespace portico::proxy
