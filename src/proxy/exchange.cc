#include "proxy/exchange.h"

#include "common/log.h"
#include "common/strings.h"
#include "proxy/actions.h"
#include "proxy/http1_connection.h"
#include "proxy/io_ops.h"
#include "proxy/policy/policy.h"
#include "proxy/tls_stream.h"
#include "proxy/tunnel.h"

#include <cmath>

namespace portico::proxy {

namespace {
constexpr std::size_t kMaxResponseHeaderBytes = 64 * 1024;
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
// Interim (1xx) responses skipped before the final one; more is an upstream gone wrong (and,
// as each buffered one is parsed without a read, a bound on that loop).
constexpr int kMaxInterimResponses = 16;

bool isTimeout(error_code ec) { return ec == beast::error::timeout; }

// The request's header fields, for route conditions (snapshot::RequestView::header_at).
bool headerAt(const void* headers, std::size_t i, std::string_view& name, std::string_view& value) {
  const auto& fields = static_cast<const MessageHead*>(headers)->fields();
  if (i >= fields.size()) {
    return false;
  }
  name = fields[i].name;
  value = fields[i].value;
  return true;
}

// The EWMA's time constant: a sample's weight halves in about 7 s.
constexpr double kEwmaTauNs = 10e9;

std::string endpointName(const runtime::EndpointState* e) {
  return e == nullptr ? std::string()
                      : e->endpoint.address + ":" + std::to_string(e->endpoint.port);
}
}  // namespace

template <class Stream>
Exchange<Stream>::Exchange(Connection& conn) : conn_(conn), worker_(conn.worker()) {}

// ---- route, requestPolicies, action -------------------------------------------------------

template <class Stream>
void Exchange<Stream>::start() {
  ++id_;
  start_ns_ = runtime::steadyNs(worker_.clock.now());
  upstream_start_ns_ = 0;
  connect_ns_ = 0;
  body_out_ = 0;
  stats_ = nullptr;
  target_group_ = snapshot::kNoTargetGroup;
  request_id_generated_ = false;
  attempts_ = 0;
  status_ = 0;
  endpoint_ = nullptr;
  continue_sent_ = false;
  request_body_started_ = false;
  request_done_ = false;
  client_reading_ = false;
  upstream_writing_ = false;
  response_started_ = false;
  response_done_ = false;
  header_only_ = false;
  finish_after_read_ = false;
  fail_after_read_.reset();
  local_after_read_.reset();
  route_ = nullptr;
  holdEndpoint(nullptr);
  sticky_cookie_.clear();
  auto& parser = conn_.parser();
  const MessageHead& req = parser.head();
  head_request_ = req.method() == "HEAD";
  const unsigned bad =
      checkRequestHead(req, parser.chunked(), parser.contentLength(), info_, path_buf_);
  keep_alive_ = info_.keep_alive;
  if (bad != 0) {
    keep_alive_ = false;  // the framing of what follows cannot be trusted
    fail({Phase::kReadHeader, causeForStatus(bad)});
    return;
  }
  route();
}

template <class Stream>
void Exchange<Stream>::route() {
  config_ = worker_.published;
  if (config_ == nullptr) {
    fail({Phase::kRoute, Cause::kNoRoute, Side::kInternal});
    return;
  }
  const MessageHead& req_head = conn_.parser().head();
  snapshot::RequestView view;
  view.host = info_.host;
  view.path = info_.path;
  if (const std::size_t q = info_.origin_target.find('?'); q != std::string_view::npos) {
    view.query = info_.origin_target.substr(q + 1);
  }
  view.method = req_head.method();
  view.source = conn_.clientIp();
  view.headers = &req_head;
  view.header_at = &headerAt;
  const snapshot::RouteMatch match = config_->snapshot->lookup(view);
  if (match.route == nullptr && match.target_group_index == snapshot::kNoTargetGroup) {
    fail({Phase::kRoute, Cause::kNoRoute});
    return;
  }
  // requestPolicies: the route's compiled policies, in order (docs/architecture.md).
  route_ = match.route;
  stats_ = routeStatsFor(*config_, match, match.target_group_index);
  policy::RequestContext ctx{info_, worker_.config.max_body_size, {}, {}};
  ctx.tls = Connection::kTls;
  ctx.response_headers = &local_headers_;
  ctx.scratch = &location_;
  if (match.route != nullptr &&
      policy::runRequestPolicies(*match.route, ctx) == policy::Verdict::kRespond) {
    answer(ctx.response);
    return;
  }
  // The body limit in force: the controller's, or the route's. A Content-Length over it is
  // answered now; a chunked body is cut by the parser as it streams.
  if (ctx.body_limit != 0 && info_.content_length && *info_.content_length > ctx.body_limit) {
    fail({Phase::kRequestPolicies, Cause::kBodyTooLarge});
    return;
  }
  conn_.parser().bodyLimit(ctx.body_limit != 0 ? ctx.body_limit : kUnlimitedBody);

  // action: a redirect or fixed response answers here; a forward picks its target group (by
  // weight, or the one the stickiness cookie names).
  if (answerAction()) {
    return;
  }
  target_group_ = match.target_group_index;
  if (route_ != nullptr) {
    const auto& forward = std::get<snapshot::Forward>(route_->action);
    if (forward.targets.size() > 1 || forward.sticky_seconds > 0) {
      const std::uint64_t sticky = forward.sticky_seconds > 0
                                       ? stickyKeyFrom(cookieValue(req_head, forward.sticky_cookie))
                                       : 0;
      const auto& target = forward.targets[worker_.balancer.split(forward, forward.split, sticky)];
      if (forward.targets.size() > 1) {
        stats_ = routeStatsFor(*config_, match, target.target_group);  // its service's series
      }
      target_group_ = target.target_group;
      if (forward.sticky_seconds > 0) {
        stickyCookie(forward.sticky_cookie, target.key, forward.sticky_seconds, sticky_cookie_);
      }
    }
  }
  const runtime::TargetGroupState& group = config_->target_groups[target_group_];
  ring_key_ = 0;
  if (group.settings != nullptr && group.settings->algorithm == snapshot::Algorithm::kRingHash) {
    ring_key_ = ringHashKey(group.settings->hash, req_head, conn_.clientIp());
    if (ring_key_ == 0) {
      ring_key_ = worker_.rng.next();  // no key: spread like random
    }
  }

  // The request as the upstream sees it (DESIGN.md, "What the proxy promises"), written once
  // and reused if the request is retried.
  const MessageHead& req = conn_.parser().head();
  UpstreamRequestHead head;
  head.info = &info_;
  head.edits = &ctx.upstream_edits;
  head.client_address = conn_.clientAddress();
  head.listener_port = conn_.listenPortText();
  head.proto = conn_.proto();
  if (!req.has(FieldId::kXRequestId)) {
    worker_.newRequestId(request_id_.data());
    request_id_generated_ = true;
    head.request_id = std::string_view(request_id_.data(), request_id_.size());
  }
  request_head_.clear();
  appendRequestHead(req, head, request_head_);
  selectUpstream();
}

// ---- selectUpstream, connect --------------------------------------------------------------

template <class Stream>
void Exchange<Stream>::selectUpstream() {
  ++attempts_;
  ++attempt_;
  lb::LazyNow now(worker_.clock);
  const runtime::TargetGroupState& group = config_->target_groups[target_group_];
  endpoint_ = worker_.balancer.pick(target_group_, group, now, ring_key_);
  if (endpoint_ == nullptr) {
    fail({Phase::kSelectUpstream, Cause::kNoEndpoint, Side::kUpstream});
    return;
  }
  holdEndpoint(endpoint_);
  upstream_start_ns_ = now.get();
  attempt_start_ns_ = upstream_start_ns_;  // the EWMA's sample starts here
  connect_ns_ = 0;
  upstream_ = worker_.connector->reuse(*endpoint_, group.tls.get());
  if (upstream_ != nullptr) {
    worker_.stats.upstream_reuses.inc();
    forwardRequest();
    return;
  }
  const std::uint32_t attempt = attempt_;
  upstream_ = worker_.connector->connect(
      *endpoint_, group.tls.get(), worker_.config.upstream_connect_timeout,
      [self = conn_.shared_from_this(), this, attempt](error_code ec) { onConnect(ec, attempt); });
}

template <class Stream>
void Exchange<Stream>::onConnect(error_code ec, std::uint32_t attempt) {
  if (conn_.closed() || attempt != attempt_) {
    return;
  }
  const bool tls = config_->target_groups[target_group_].tls != nullptr;
  if (ec) {
    worker_.stats.upstream_connect_errors.inc();
    if (tls && ec.category() != net::error::get_system_category() && !isTimeout(ec)) {
      worker_.stats.upstream_tls_errors.inc();
    }
    log::warn(
        "upstream connect failed",
        {{"endpoint", endpointName(endpoint_)}, {"error", ec.message()}, {"attempt", attempts_}});
    endpointFailed();
    upstreamFailed(Phase::kConnect, ec);
    return;
  }
  if (tls) {
    worker_.stats.upstream_tls_handshakes.inc();
  }
  connect_ns_ = runtime::steadyNs(worker_.clock.now()) - upstream_start_ns_;
  forwardRequest();
}

// ---- forwardRequest: the request body pump ------------------------------------------------

template <class Stream>
void Exchange<Stream>::forwardRequest() {
  up_.reset(&request_head_, info_.chunked);
  interim_responses_ = 0;
  if (info_.expect_continue && !continue_sent_ && !conn_.parser().done()) {
    // The client waits for this before sending its body; answer it ourselves, as nginx does.
    // HTTP/1.0 clients never get one (RFC 9110 10.1.1).
    continue_sent_ = true;
    beast::get_lowest_layer(conn_.stream()).expires_after(worker_.config.client_send_timeout);
    Gather g;
    g.add(net::buffer(kContinue, sizeof(kContinue) - 1));
    writeAll(conn_.stream(), g,
             [self = conn_.shared_from_this(), this, id = id_](error_code ec, std::size_t) {
               if (id != id_ || conn_.closed()) {
                 return;
               }
               if (ec) {
                 worker_.stats.client_aborts.inc();
                 dropUpstream();
                 conn_.close();
                 return;
               }
               doReadRequestBody();
             });
    return;
  }
  if (!conn_.parser().done() && conn_.buffer().size() == 0) {
    // No body bytes are here yet: the head goes up alone, now, so the upstream can answer
    // early. When some are buffered, head and first piece leave in one write.
    writeRequestPiece(0);
    return;
  }
  doReadRequestBody();
}

template <class Stream>
void Exchange<Stream>::doReadRequestBody() {
  auto& parser = conn_.parser();
  if (parser.done()) {
    writeRequestPiece(0);
    return;
  }
  auto& body = parser.body();
  body.data = request_buf_.data();
  body.size = request_buf_.size();
  beast::get_lowest_layer(conn_.stream()).expires_after(worker_.config.client_body_timeout);
  error_code ec;
  if (readStep(conn_.stream(), conn_.buffer(), parser, ec,
               [self = conn_.shared_from_this(), this, id = id_](error_code rec) {
                 onReadRequestBody(rec, id);
               })) {
    onReadRequestBody(ec, id_);  // the buffered bytes sufficed
    return;
  }
  client_reading_ = true;
}

template <class Stream>
void Exchange<Stream>::onReadRequestBody(error_code ec, std::uint32_t id) {
  if (id != id_) {
    return;
  }
  client_reading_ = false;
  if (conn_.closed()) {
    return;
  }
  if (finish_after_read_) {
    finish_after_read_ = false;
    finish();  // the response ended first; the rest of the body is not wanted
    return;
  }
  if (fail_after_read_) {
    const ProxyError error = *fail_after_read_;
    fail_after_read_.reset();
    fail(error);
    return;
  }
  if (local_after_read_) {
    const LocalResponse r = *local_after_read_;
    local_after_read_.reset();
    answer(r);
    return;
  }
  if (ec == http::error::need_buffer) {
    ec = {};
  }
  if (ec) {
    dropUpstream();  // a half-sent request: that connection cannot be reused
    keep_alive_ = false;
    if (ec == http::error::body_limit) {
      fail({Phase::kForwardRequest, Cause::kBodyTooLarge});
    } else if (isTimeout(ec)) {
      fail({Phase::kForwardRequest, Cause::kClientTimeout});
    } else if (ec == http::error::partial_message || ec == net::error::eof ||
               ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      worker_.stats.client_aborts.inc();
      log::debug("client went away mid-body", {{"error", ec.message()}});
      conn_.close();
    } else {
      fail({Phase::kForwardRequest, Cause::kMalformed});
    }
    return;
  }
  if (response_done_) {
    finish();
    return;
  }
  const std::size_t n = request_buf_.size() - conn_.parser().body().size;
  if (n == 0 && !conn_.parser().done()) {
    doReadRequestBody();  // only framing was read (a chunk header)
    return;
  }
  request_body_started_ = request_body_started_ || n > 0;
  writeRequestPiece(n);
}

template <class Stream>
void Exchange<Stream>::writeRequestPiece(std::size_t n) {
  const bool last = conn_.parser().done();
  const Gather out = up_.frame(request_buf_.data(), n, last);
  upstream_writing_ = true;
  upstream_->stream.expires_after(worker_.config.upstream_response_timeout);
  writeAll(upstream_->stream, out,
           [self = conn_.shared_from_this(), this, conn = upstream_, last, attempt = attempt_](
               error_code ec, std::size_t) { onWriteRequest(ec, last, attempt); });
}

template <class Stream>
void Exchange<Stream>::onWriteRequest(error_code ec, bool last, std::uint32_t attempt) {
  if (attempt != attempt_ || conn_.closed()) {
    return;
  }
  upstream_writing_ = false;
  if (ec) {
    if (up_.headSent()) {
      // The response side is reading: an upstream that answers early and stops reading is
      // not a failure; the response decides.
      if (response_done_) {
        finish();
      }
      return;
    }
    upstreamFailed(Phase::kForwardRequest, ec);
    return;
  }
  const bool first = !up_.headSent();
  up_.sent();
  if (first) {
    doReadResponseHeader();  // full duplex from here on
  }
  if (last) {
    request_done_ = true;
    if (response_done_) {
      finish();
    }
    return;
  }
  if (response_done_) {
    finish();
    return;
  }
  doReadRequestBody();
}

// ---- upstreamHeaders, responsePolicies ----------------------------------------------------

template <class Stream>
void Exchange<Stream>::doReadResponseHeader() {
  auto& parser = upstream_->parser;
  parser.reset();
  parser.headerLimit(kMaxResponseHeaderBytes);
  parser.skipBody(head_request_);
  upstream_->stream.expires_after(worker_.config.upstream_response_timeout);
  error_code ec;
  if (readStep(upstream_->stream, upstream_->buffer, parser, ec,
               [self = conn_.shared_from_this(), this, conn = upstream_,
                attempt = attempt_](error_code rec) { onReadResponseHeader(rec, attempt); })) {
    onReadResponseHeader(ec, attempt_);  // the buffered bytes sufficed
  }
}

template <class Stream>
void Exchange<Stream>::onReadResponseHeader(error_code ec, std::uint32_t attempt) {
  if (attempt != attempt_ || conn_.closed()) {
    return;
  }
  if (ec) {
    upstreamFailed(Phase::kUpstreamHeaders, ec);
    return;
  }
  auto& parser = upstream_->parser;
  const MessageHead& res = parser.head();
  const unsigned status = res.status();
  if (status >= 100 && status < 200 && status != 101) {
    if (++interim_responses_ > kMaxInterimResponses) {
      log::warn("invalid upstream response",
                {{"endpoint", endpointName(endpoint_)}, {"error", "too many interim responses"}});
      dropUpstream();
      fail({Phase::kUpstreamHeaders, Cause::kInvalidResponse, Side::kUpstream});
      return;
    }
    doReadResponseHeader();  // interim responses: the client already had its 100 from us
    return;
  }
  if (status == 101 && !info_.upgrade) {
    upstreamFailed(Phase::kUpstreamHeaders, http::error::bad_status);
    return;
  }
  if (const char* problem = responseHeadProblem(res); problem != nullptr) {
    log::warn("invalid upstream response",
              {{"endpoint", endpointName(endpoint_)}, {"error", problem}});
    dropUpstream();
    fail({Phase::kUpstreamHeaders, Cause::kInvalidResponse, Side::kUpstream});
    return;
  }
  status_ = status;
  endpointAnswered(status);
  // responsePolicies: the route's, on the head the client gets (HSTS).
  response_edits_.clear();
  if (route_ != nullptr) {
    policy::ResponseContext rctx{Connection::kTls, response_edits_};
    policy::runResponsePolicies(*route_, rctx);
  }
  if (!sticky_cookie_.empty()) {
    response_edits_.append("Set-Cookie", sticky_cookie_);
  }
  ClientResponseHead head;
  head.edits = &response_edits_;
  head.date = worker_.date();
  header_only_ = head_request_ || status < 200 || status == 204 || status == 304;
  head.content_length = parser.contentLength();
  if (status == 101) {
    head.connection = ConnectionHeader::kUpgrade;
    head.upgrade = res.value(FieldId::kUpgrade);
    head.content_length.reset();
  } else {
    // A response that arrives before the request has gone up whole ends the connection: the
    // rest of the request body will never be forwarded.
    bool keep_alive = keep_alive_ && !worker_.draining && request_done_;
    const bool framed = head.content_length.has_value();
    if (info_.version < 11) {
      // HTTP/1.0 has no chunked: without a length, the body ends when the connection does.
      keep_alive = keep_alive && (framed || header_only_);
      head.connection = keep_alive ? ConnectionHeader::kKeepAlive : ConnectionHeader::kNone;
    } else {
      // Chunked stays chunked; a body delimited by the upstream closing becomes chunked.
      head.chunked = !framed && !header_only_;
      head.connection = keep_alive ? ConnectionHeader::kNone : ConnectionHeader::kClose;
    }
    keep_alive_ = keep_alive;
  }
  response_head_.clear();
  appendResponseHead(res, head, response_head_);
  down_.reset(&response_head_, head.chunked && !header_only_);
  response_started_ = true;
  if (header_only_) {
    writeResponsePiece(0);
    return;
  }
  doReadResponseBody();
}

// ---- forwardBody: the response body pump --------------------------------------------------

template <class Stream>
void Exchange<Stream>::doReadResponseBody() {
  auto& parser = upstream_->parser;
  if (parser.done()) {
    writeResponsePiece(0);
    return;
  }
  auto& body = parser.body();
  body.data = response_buf_.data();
  body.size = response_buf_.size();
  upstream_->stream.expires_after(worker_.config.upstream_response_timeout);
  error_code ec;
  if (readStep(upstream_->stream, upstream_->buffer, parser, ec,
               [self = conn_.shared_from_this(), this, conn = upstream_,
                attempt = attempt_](error_code rec) { onReadResponseBody(rec, attempt); })) {
    onReadResponseBody(ec, attempt_);  // the buffered bytes sufficed
  }
}

template <class Stream>
void Exchange<Stream>::onReadResponseBody(error_code ec, std::uint32_t attempt) {
  if (attempt != attempt_ || conn_.closed()) {
    return;
  }
  if (ec == http::error::need_buffer) {
    ec = {};
  }
  if (ec && !down_.headSent()) {
    // Nothing of the response reached the client yet (the head leaves with the first piece of
    // body): it gets a 504 or a 502, as for a bad head, instead of a closed connection.
    log::warn("invalid upstream response",
              {{"endpoint", endpointName(endpoint_)}, {"error", ec.message()}});
    dropUpstream();
    response_started_ = false;
    fail({Phase::kForwardBody, isTimeout(ec) ? Cause::kTimeout : Cause::kInvalidResponse,
          Side::kUpstream});
    return;
  }
  if (ec) {
    // Part of the response already reached the client: the only honest signal left is to
    // close the connection, so the client sees a truncated message. It is counted as the
    // status the client saw, and as a truncated response.
    log::warn("upstream failed mid-response", {{"phase", phaseName(Phase::kForwardBody)},
                                               {"endpoint", endpointName(endpoint_)},
                                               {"error", ec.message()}});
    worker_.stats.upstream_truncated.inc();
    worker_.stats.upstream_errors[WorkerStats::kTruncated].inc();
    complete(status_);
    dropUpstream();
    conn_.close();
    return;
  }
  const std::size_t n = response_buf_.size() - upstream_->parser.body().size;
  if (n == 0 && !upstream_->parser.done()) {
    doReadResponseBody();  // only framing was read (a chunk header)
    return;
  }
  writeResponsePiece(n);
}

template <class Stream>
void Exchange<Stream>::writeResponsePiece(std::size_t n) {
  const bool last = header_only_ || upstream_->parser.done();
  body_out_ += n;
  const Gather out = down_.frame(response_buf_.data(), n, last && !header_only_);
  beast::get_lowest_layer(conn_.stream()).expires_after(worker_.config.client_send_timeout);
  writeAll(conn_.stream(), out,
           [self = conn_.shared_from_this(), this, last, id = id_](error_code ec, std::size_t) {
             onWriteResponse(ec, last, id);
           });
}

template <class Stream>
void Exchange<Stream>::onWriteResponse(error_code ec, bool last, std::uint32_t id) {
  if (id != id_ || conn_.closed()) {
    return;
  }
  if (ec) {
    worker_.stats.client_aborts.inc();
    complete(499);
    dropUpstream();
    conn_.close();  // the client went away
    return;
  }
  down_.sent();
  if (status_ == 101) {
    startTunnel();
    return;
  }
  if (!last) {
    doReadResponseBody();
    return;
  }
  response_done_ = true;
  finish();
}

// ---- log ----------------------------------------------------------------------------------

template <class Stream>
void Exchange<Stream>::finish() {
  if (deferUntilClientReadEnds()) {
    finish_after_read_ = true;
    return;
  }
  complete(status_);
  holdEndpoint(nullptr);
  if (!request_done_) {
    keep_alive_ = false;  // answered early: the rest of the request is not forwarded
    dropUpstream();
  } else if (upstream_ != nullptr && upstream_->parser.done() && upstream_->parser.keepAlive() &&
             upstream_->buffer.size() == 0 && endpoint_ != nullptr &&
             !endpoint_->draining.load(std::memory_order_relaxed)) {
    worker_.connector->release(std::move(upstream_));
  }
  upstream_.reset();
  config_.reset();
  conn_.exchangeDone(keep_alive_);
}

namespace {
// The reason label of a request that failed because of its upstream.
WorkerStats::UpstreamError upstreamErrorReason(const ProxyError& e) {
  if (e.cause == Cause::kNoEndpoint) {
    return WorkerStats::kNoEndpoint;
  }
  if (e.phase == Phase::kConnect) {
    return e.cause == Cause::kTimeout ? WorkerStats::kConnectTimeout : WorkerStats::kConnectRefused;
  }
  if (e.cause == Cause::kTimeout) {
    return WorkerStats::kResponseTimeout;
  }
  return e.cause == Cause::kInvalidResponse ? WorkerStats::kInvalidResponse : WorkerStats::kReset;
}
}  // namespace

template <class Stream>
void Exchange<Stream>::complete(unsigned status, std::size_t local_bytes, std::size_t local_body) {
  const std::int64_t now = runtime::steadyNs(worker_.clock.now());
  const auto& parser = conn_.parser();
  const MessageHead& req = parser.head();
  metrics::RequestSample sample;
  sample.method = metrics::methodOf(req.method());
  sample.status = status;
  sample.duration_ns = static_cast<std::uint64_t>(std::max<std::int64_t>(now - start_ns_, 0));
  sample.request_bytes = req.size() + parser.bodySeen();
  const bool local = local_bytes != 0;
  sample.response_bytes =
      local ? local_bytes : (response_started_ ? response_head_.size() : 0) + body_out_;
  sample.upstream = !local && upstream_start_ns_ != 0 && status_ != 0;
  if (sample.upstream) {
    sample.upstream_response_ns =
        static_cast<std::uint64_t>(std::max<std::int64_t>(now - upstream_start_ns_, 0));
    sample.upstream_connect_ns = static_cast<std::uint64_t>(connect_ns_);
  }
  if (worker_.access_log == nullptr) {
    worker_.countRequest(stats_, sample, nullptr);
    return;
  }
  AccessRecord rec;
  rec.wall_ns = worker_.wallNs();
  std::string_view id = req.value(FieldId::kXRequestId);
  if (id.empty()) {
    if (!request_id_generated_) {
      worker_.newRequestId(request_id_.data());
    }
    id = std::string_view(request_id_.data(), request_id_.size());
  }
  rec.request_id = id;
  rec.client = conn_.clientAddress();
  rec.method = req.method();
  rec.host = req.value(FieldId::kHost);
  rec.target = req.target();
  rec.version = static_cast<int>(req.version());
  rec.status = status;
  rec.bytes_in = sample.request_bytes;
  rec.bytes_out = sample.response_bytes;
  rec.body_bytes_out = local ? local_body : body_out_;
  rec.duration_ns = sample.duration_ns;
  if (endpoint_ != nullptr && upstream_start_ns_ != 0) {
    rec.upstream = endpoint_->endpoint.address;
    rec.upstream_port = endpoint_->endpoint.port;
    rec.upstream_status = status_;
    rec.upstream_duration_ns = sample.upstream_response_ns;
    rec.upstream_bytes = body_out_;
  }
  if (route_ != nullptr) {
    const std::string_view ingress = route_->ingress;
    const std::size_t slash = ingress.find('/');
    rec.ns = ingress.substr(0, slash);
    rec.ingress = slash == std::string_view::npos ? std::string_view() : ingress.substr(slash + 1);
  }
  if (config_ != nullptr && target_group_ < config_->snapshot->targetGroups().size()) {
    const std::string_view tg = config_->snapshot->targetGroups()[target_group_].id;
    rec.target_group = tg;
    const std::size_t slash = tg.find('/');
    if (rec.ns.empty()) {
      rec.ns = tg.substr(0, slash);
    }
    rec.service = slash == std::string_view::npos
                      ? std::string_view()
                      : tg.substr(slash + 1, tg.find(':', slash) - slash - 1);
  }
  if (worker_.access_log_format == AccessLogFormat::kNginx) {
    for (const auto& f : req.fields()) {
      if (iequals(f.name, "referer")) {
        rec.referer = f.value;
      } else if (iequals(f.name, "user-agent")) {
        rec.user_agent = f.value;
      }
    }
  }
  worker_.countRequest(stats_, sample, &rec);
}

// ---- failures -----------------------------------------------------------------------------

template <class Stream>
bool Exchange<Stream>::retryable(Phase phase) const {
  if (attempts_ >= worker_.config.max_attempts || request_body_started_ || response_started_ ||
      client_reading_) {
    return false;
  }
  if (phase == Phase::kConnect) {
    return true;  // nothing reached the upstream: refused and timed out alike
  }
  // A pooled connection the upstream had closed: the request may not have been seen, but it
  // may have: only idempotent requests go again.
  return upstream_ != nullptr && upstream_->reused && isIdempotent(conn_.parser().head().method());
}

template <class Stream>
void Exchange<Stream>::upstreamFailed(Phase phase, error_code ec) {
  const bool timeout = isTimeout(ec);
  if (phase == Phase::kUpstreamHeaders &&
      !(upstream_ != nullptr && upstream_->reused && !timeout)) {
    endpointFailed();  // no answer (a pooled connection the upstream had closed is no failure)
  }
  if (retryable(phase)) {
    worker_.stats.upstream_retries.inc();
    dropUpstream();
    selectUpstream();
    return;
  }
  if (phase != Phase::kConnect) {
    log::warn("upstream request failed", {{"phase", phaseName(phase)},
                                          {"endpoint", endpointName(endpoint_)},
                                          {"error", ec.message()}});
  }
  dropUpstream();
  Cause cause = timeout ? Cause::kTimeout : Cause::kRefused;
  if (ec == http::error::bad_status ||
      ec.category() == http::make_error_code(http::error::bad_version).category()) {
    cause = Cause::kInvalidResponse;
  }
  fail({phase, cause, Side::kUpstream});
}

template <class Stream>
void Exchange<Stream>::fail(const ProxyError& error) {
  if (response_started_) {
    dropUpstream();
    conn_.close();
    return;
  }
  if (deferUntilClientReadEnds()) {
    fail_after_read_ = error;
    return;
  }
  if (error.side == Side::kUpstream) {
    worker_.stats.upstream_errors[upstreamErrorReason(error)].inc();
  }
  LocalResponse r;
  r.status = proxyErrorStatus(error);
  answer(r);
}

template <class Stream>
void Exchange<Stream>::answer(const LocalResponse& r) {
  if (deferUntilClientReadEnds()) {
    local_after_read_ = r;
    return;
  }
  dropUpstream();
  holdEndpoint(nullptr);
  // Keep the connection only when the request was read whole and the framing is trustworthy.
  const bool rejected = r.status == 400 || r.status == 405 || r.status == 408 || r.status == 413 ||
                        r.status == 414 || r.status == 431 || r.status == 501 || r.status == 505;
  if (rejected) {
    worker_.stats.rejected_requests.inc();
  }
  const bool keep_alive = keep_alive_ && conn_.parser().done() && !rejected;
  // r may view the snapshot (a fixed response's body): respond() copies it out; the config is
  // let go after, once the request is counted.
  const std::size_t sent = conn_.respond(r, keep_alive, head_request_);
  complete(r.status, sent, head_request_ ? 0 : r.body.size());
  config_.reset();
}

template <class Stream>
void Exchange<Stream>::dropUpstream() {
  ++attempt_;
  upstream_writing_ = false;
  if (upstream_ != nullptr) {
    error_code ignored;
    beast::get_lowest_layer(upstream_->stream).socket().close(ignored);
    upstream_.reset();
  }
}

template <class Stream>
bool Exchange<Stream>::deferUntilClientReadEnds() {
  if (!client_reading_) {
    return false;
  }
  // Cancelling the read completes it with operation_aborted; onReadRequestBody then carries on.
  error_code ignored;
  beast::get_lowest_layer(conn_.stream()).socket().cancel(ignored);
  return true;
}

// ---- endpoint outcome -------------------------------------------------------------------

template <class Stream>
void Exchange<Stream>::holdEndpoint(runtime::EndpointState* endpoint) {
  if (held_ == endpoint) {
    return;
  }
  if (held_ != nullptr && counting_active_) {
    held_->active_requests.fetch_sub(1, std::memory_order_relaxed);
  }
  if (endpoint != nullptr) {
    worker_.linkHolder(this);
  } else {
    worker_.unlinkHolder(this);
  }
  held_ = endpoint;
  // Requests in flight are counted only where a picker reads them (least_request, ewma): two
  // atomic read-modify-writes per request saved everywhere else.
  counting_active_ = false;
  if (held_ != nullptr) {
    const snapshot::TargetGroupSettings* s = config_->target_groups[target_group_].settings;
    counting_active_ = s != nullptr && (s->algorithm == snapshot::Algorithm::kLeastRequest ||
                                        s->algorithm == snapshot::Algorithm::kEwma);
    if (counting_active_) {
      held_->active_requests.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

template <class Stream>
void Exchange<Stream>::deregistrationExpired() {
  if (conn_.closed() || held_ == nullptr) {
    return;
  }
  log::warn("deregistration delay over: ending a request still on the endpoint",
            {{"endpoint", endpointName(held_)}, {"target_group", held_->target_group}});
  holdEndpoint(nullptr);
  if (response_started_ || upstream_ == nullptr) {
    dropUpstream();
    conn_.close();  // part of the answer is out: a truncated response is the honest signal
    return;
  }
  dropUpstream();
  fail({Phase::kUpstreamHeaders, Cause::kRefused, Side::kUpstream});  // a 502
}

template <class Stream>
void Exchange<Stream>::endpointFailed() {
  if (endpoint_ == nullptr) {
    return;
  }
  static const snapshot::TargetGroupSettings kDefaults;
  const snapshot::TargetGroupSettings* s = config_->target_groups[target_group_].settings;
  if (s == nullptr) {
    s = &kDefaults;
  }
  if (endpoint_->recordFailure(runtime::steadyNs(worker_.clock.now()), s->ejection_failures,
                               s->ejection_seconds)) {
    worker_.stats.upstream_ejections.inc();
    log::warn("endpoint ejected",
              {{"endpoint", endpointName(endpoint_)}, {"target_group", endpoint_->target_group}});
  }
}

template <class Stream>
void Exchange<Stream>::endpointAnswered(unsigned status) {
  if (endpoint_ == nullptr) {
    return;
  }
  if (status >= 500 && status != 501 && status != 505) {
    endpointFailed();
  } else {
    endpoint_->recordSuccess();
  }
  const snapshot::TargetGroupSettings* s = config_->target_groups[target_group_].settings;
  if (s == nullptr || s->algorithm != snapshot::Algorithm::kEwma) {
    return;
  }
  // Peak EWMA (Finagle's): a slower sample replaces the average at once; faster ones pull it
  // down with a weight that decays with the time since the last sample.
  const std::int64_t now = runtime::steadyNs(worker_.clock.now());
  const std::int64_t sample = std::max<std::int64_t>(now - attempt_start_ns_, 1);
  const std::int64_t prev = endpoint_->ewma_ns.load(std::memory_order_relaxed);
  const std::int64_t at = endpoint_->ewma_at_ns.load(std::memory_order_relaxed);
  std::int64_t next = sample;
  if (prev != 0 && sample < prev) {
    const double w =
        std::exp(-static_cast<double>(std::max<std::int64_t>(now - at, 0)) / kEwmaTauNs);
    next = static_cast<std::int64_t>(static_cast<double>(prev) * w +
                                     static_cast<double>(sample) * (1.0 - w));
  }
  endpoint_->ewma_ns.store(next, std::memory_order_relaxed);
  endpoint_->ewma_at_ns.store(now, std::memory_order_relaxed);
}

template <class Stream>
bool Exchange<Stream>::answerAction() {
  if (route_ == nullptr) {
    return false;
  }
  if (const auto* boxed = std::get_if<snapshot::Boxed<snapshot::Redirect>>(&route_->action)) {
    const snapshot::Redirect* redirect = &**boxed;
    redirectLocation(*redirect, info_, Connection::kTls, location_);
    local_headers_.clear();
    local_headers_.set("Location", location_);
    LocalResponse r;
    r.status = redirect->status;
    r.headers = &local_headers_;
    answer(r);
    return true;
  }
  if (const auto* boxed = std::get_if<snapshot::Boxed<snapshot::FixedResponse>>(&route_->action)) {
    const snapshot::FixedResponse* fixed = &**boxed;
    LocalResponse r;
    r.status = fixed->status;
    r.content_type = fixed->content_type;
    r.body = fixed->body;
    answer(r);
    return true;
  }
  return false;
}

// ---- tunnel (Upgrade) ---------------------------------------------------------------------

template <class Stream>
void Exchange<Stream>::startTunnel() {
  complete(101);
  holdEndpoint(nullptr);
  // The tunnel keeps the endpoint's state (not the whole config) for its drain deadline.
  std::shared_ptr<runtime::EndpointState> endpoint;
  for (const auto& e : config_->target_groups[target_group_].endpoints) {
    if (e.get() == endpoint_) {
      endpoint = e;
      break;
    }
  }
  auto upstream = std::move(upstream_);
  ++attempt_;
  config_.reset();
  std::make_shared<Tunnel<Stream>>(conn_.shared_from_this(), conn_.stream(), conn_.buffer(),
                                   std::move(upstream), worker_.ioc,
                                   worker_.config.tunnel_idle_timeout, std::move(endpoint))
      ->start();
}

template class Exchange<DeadlineStream>;
template class Exchange<TlsStream>;

}  // namespace portico::proxy
