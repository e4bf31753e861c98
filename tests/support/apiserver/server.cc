#include "apiserver/server.h"

#include "apiserver/certs.h"
#include "apiserver/store.h"
#include "proxy/listen.h"
#include "proxy/net.h"

#include <boost/beast/ssl.hpp>

#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

// Fault injection, for tests (POST, with the token):
//   /_test/close-watches     end every open watch stream (clients re-watch)
//   /_test/compact           forget the event history: watches from older versions get 410
//   /_test/restart-watch-cache  as a restarted kube-apiserver: watches from older versions get
//                            410, lists at an exact older version are still served (etcd)
//   /_test/expire-watches?count=N  the next N watch requests get 410 Expired at once
//   /_test/fail?count=N      answer the next N requests with 500
//   /_test/delay?ms=N        delay every answer by N ms (0 turns it off)
//   /_test/drop-next-event   store the next change but tell no watcher
//   /_test/garble?count=N&as=K  answer the next N GETs with 200 and a broken body, K being
//                            truncated (JSON cut short), items-object (a list whose items is
//                            not an array), items-not-objects (an array of numbers and strings)
//                            or html (not JSON at all)

namespace portico::apiserver {

using namespace portico::proxy;  // NOLINT: net/beast/http aliases
namespace ssl = net::ssl;
namespace fs = std::filesystem;

namespace {

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeAll(const fs::path& p, const std::string& content) {
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << content;
  }
  fs::rename(tmp, p);
}

std::string base64(const std::string& in) {
  static constexpr char kTable[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kTable[v >> 18];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += kTable[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kTable[v >> 18];
    out += kTable[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kTable[v >> 18];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string urlDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Target {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;
};

Target parseTarget(std::string_view target) {
  Target t;
  const auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    t.segments.push_back(urlDecode(path.substr(0, slash)));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view kv = rest.substr(0, amp);
      const auto eq = kv.find('=');
      t.query[urlDecode(kv.substr(0, eq))] =
          eq == std::string_view::npos ? "" : urlDecode(kv.substr(eq + 1));
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    }
  }
  return t;
}

}  // namespace

class Session;

// A watch stream: events for one resource type (and namespace, selectors) as chunked JSON lines.
struct Watcher {
  std::weak_ptr<Session> session;
  const ResourceType* rt = nullptr;
  std::string ns;
  Selector labels;
  Selector fields;
  bool bookmarks = false;
};

struct ApiServer::Impl {
  explicit Impl(ServerOptions o) : options(std::move(o)), store(options.history_limit) {}

  void persist() {
    if (!options.data_dir.empty() && options.persist) {
      writeAll(fs::path(options.data_dir) / "state.json", store.save().dump());
    }
  }
  void onEvent(const WatchEvent& e);
  void closeWatches();

  ServerOptions options;
  Store store;
  net::io_context ioc{1};
  ssl::context ssl_ctx{ssl::context::tls_server};
  std::optional<tcp::acceptor> acceptor;
  std::thread thread;
  Certificates certs;
  std::string token;
  std::uint16_t port = 0;
  std::list<std::shared_ptr<Watcher>> watchers;
  int fail_next = 0;
  int garble_next = 0;
  std::string garble_as = "truncated";
  int expire_watches = 0;
  std::chrono::milliseconds delay{0};
  bool drop_next_event = false;
};

class Session final : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ApiServer::Impl& server)
      : stream_(std::move(socket), server.ssl_ctx), server_(server) {}

  void start() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
    stream_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](error_code ec) {
      if (!ec) {
        self->doRead();
      }
    });
  }

  // Watch output: one JSON line per event, each written as a chunk.
  void sendEvent(const json& event) {
    if (!watching_) {
      return;
    }
    queue_.push_back(event.dump() + "\n");
    if (!writing_) {
      writeNext();
    }
  }
  void endWatch() {
    if (!watching_ || ending_) {
      return;
    }
    ending_ = true;
    if (!writing_) {
      writeNext();
    }
  }

 private:
  void doRead() {
    request_ = {};
    parser_.emplace();
    parser_->body_limit(64 * 1024 * 1024);
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(300));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (ec) {
                         return;
                       }
                       self->request_ = self->parser_->release();
                       self->dispatch();
                     });
  }

  void dispatch() {
    if (server_.delay.count() > 0) {
      timer_.emplace(stream_.get_executor());
      timer_->expires_after(server_.delay);
      timer_->async_wait([self = shared_from_this()](error_code) { self->handle(); });
      return;
    }
    handle();
  }

  void respond(int code, const json& body, const std::string& content_type = "application/json") {
    log(code);
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(code));
    response_.set(http::field::content_type, content_type);
    response_.set(http::field::cache_control, "no-cache, private");
    response_.body() = body.is_null() ? std::string() : body.dump();
    response_.keep_alive(request_.keep_alive());
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec || !self->response_.keep_alive()) {
        return;
      }
      self->doRead();
    });
  }

  void respondRaw(int code, const std::string& body, const std::string& content_type) {
    log(code);
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(code));
    response_.set(http::field::content_type, content_type);
    response_.body() = body;
    response_.keep_alive(request_.keep_alive());
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (!ec && self->response_.keep_alive()) {
        self->doRead();
      }
    });
  }

  void log(int code) {
    std::fprintf(stderr, "%s %s %d\n", std::string(request_.method_string()).c_str(),
                 std::string(request_.target()).c_str(), code);
  }

  void handle() {
    if (server_.fail_next > 0) {
      --server_.fail_next;
      respond(500,
              statusError(500, "InternalError", "injected failure (test-apiserver /_test/fail)"));
      return;
    }
    const std::string auth(request_[http::field::authorization]);
    if (auth != "Bearer " + server_.token) {
      respond(401, statusError(401, "Unauthorized", "Unauthorized"));
      return;
    }
    const Target t =
        parseTarget(std::string_view(request_.target().data(), request_.target().size()));
    const auto& s = t.segments;
    if (!s.empty() && s[0] == "_test") {
      handleTest(t);
      return;
    }
    if (server_.garble_next > 0 && request_.method() == http::verb::get) {
      --server_.garble_next;
      respondRaw(200, garbled(server_.garble_as), "application/json");
      return;
    }
    if (s.size() == 1 && s[0] == "version") {
      respond(200, {{"major", "1"},
                    {"minor", "33"},
                    {"gitVersion", "v1.33.0-portico-test"},
                    {"platform", "linux/amd64"},
                    {"goVersion", "go1.24"},
                    {"compiler", "gc"}});
      return;
    }
    if (s.size() == 2 && s[0] == "openapi") {
      if (s[1] == "v2") {
        respondRaw(200, "", "application/octet-stream");  // an empty protobuf Document
      } else {
        respond(404,
                statusError(404, "NotFound", "the server could not find the requested resource"));
      }
      return;
    }
    if (s.size() == 1 && s[0] == "api") {
      respond(200, {{"kind", "APIVersions"},
                    {"versions", {"v1"}},
                    {"serverAddressByClientCIDRs",
                     {{{"clientCIDR", "0.0.0.0/0"},
                       {"serverAddress", "127.0.0.1:" + std::to_string(server_.port)}}}}});
      return;
    }
    if (s.size() == 1 && s[0] == "apis") {
      json groups = json::array();
      std::vector<std::string> seen;
      for (const auto& rt : resourceTypes()) {
        if (rt.group.empty() || std::find(seen.begin(), seen.end(), rt.group) != seen.end()) {
          continue;
        }
        seen.push_back(rt.group);
        const json gv = {{"groupVersion", rt.apiVersion()}, {"version", rt.version}};
        groups.push_back({{"name", rt.group}, {"versions", {gv}}, {"preferredVersion", gv}});
      }
      respond(200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
      return;
    }
    std::string group, version;
    std::size_t rest = 0;
    if (s.size() >= 2 && s[0] == "api") {
      version = s[1];
      rest = 2;
    } else if (s.size() >= 3 && s[0] == "apis") {
      group = s[1];
      version = s[2];
      rest = 3;
    } else {
      respond(404,
              statusError(404, "NotFound", "the server could not find the requested resource"));
      return;
    }
    if (s.size() == rest) {
      discovery(group, version);
      return;
    }
    std::vector<std::string> r(s.begin() + static_cast<long>(rest), s.end());
    std::string ns;
    if (r.size() >= 3 && r[0] == "namespaces" && r[2] != "status" && r[2] != "finalize") {
      ns = r[1];
      r.erase(r.begin(), r.begin() + 2);
    }
    const ResourceType* rt = findResource(group, version, r[0]);
    if (rt == nullptr || r.size() > 3 || (r.size() == 3 && r[2] != "status")) {
      respond(404,
              statusError(404, "NotFound", "the server could not find the requested resource"));
      return;
    }
    const std::string name = r.size() >= 2 ? r[1] : "";
    const bool status = r.size() == 3;
    if (status && !rt->has_status) {
      respond(404,
              statusError(404, "NotFound", "the server could not find the requested resource"));
      return;
    }
    resource(*rt, ns, name, status, t);
  }

  void discovery(const std::string& group, const std::string& version) {
    json resources = json::array();
    for (const auto& rt : resourceTypes()) {
      if (rt.group != group || rt.version != version) {
        continue;
      }
      resources.push_back(
          {{"name", rt.resource},
           {"singularName", rt.singular},
           {"namespaced", rt.namespaced},
           {"kind", rt.kind},
           {"shortNames", rt.short_names},
           {"verbs",
            {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}}});
      if (rt.has_status) {
        resources.push_back({{"name", rt.resource + "/status"},
                             {"singularName", ""},
                             {"namespaced", rt.namespaced},
                             {"kind", rt.kind},
                             {"verbs", {"get", "patch", "update"}}});
      }
    }
    if (resources.empty()) {
      respond(404,
              statusError(404, "NotFound", "the server could not find the requested resource"));
      return;
    }
    respond(200, {{"kind", "APIResourceList"},
                  {"apiVersion", "v1"},
                  {"groupVersion", group.empty() ? version : group + "/" + version},
                  {"resources", resources}});
  }

  // The broken answers of /_test/garble; empty for an unknown kind.
  static std::string garbled(const std::string& as) {
    if (as == "truncated") {
      return R"({"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"me)";
    }
    if (as == "items-object") {
      return R"({"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":{}})";
    }
    if (as == "items-not-objects") {
      return R"({"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[1,"x"]})";
    }
    if (as == "html") {
      return "<html><body>502 Bad Gateway</body></html>";
    }
    return "";
  }

  void handleTest(const Target& t) {
    const std::string what = t.segments.size() > 1 ? t.segments[1] : "";
    if (what == "close-watches") {
      server_.closeWatches();
    } else if (what == "compact") {
      server_.store.compact();
    } else if (what == "restart-watch-cache") {
      server_.store.restartWatchCache();
    } else if (what == "expire-watches") {
      server_.expire_watches = std::stoi(t.query.count("count") ? t.query.at("count") : "1");
    } else if (what == "fail") {
      server_.fail_next = std::stoi(t.query.count("count") ? t.query.at("count") : "1");
    } else if (what == "delay") {
      server_.delay =
          std::chrono::milliseconds(std::stoi(t.query.count("ms") ? t.query.at("ms") : "0"));
    } else if (what == "drop-next-event") {
      server_.drop_next_event = true;
    } else if (what == "garble") {
      const std::string as = t.query.count("as") ? t.query.at("as") : "truncated";
      if (garbled(as).empty()) {
        respond(400, statusError(400, "BadRequest", "unknown garble kind " + as));
        return;
      }
      server_.garble_next = std::stoi(t.query.count("count") ? t.query.at("count") : "1");
      server_.garble_as = as;
    } else {
      respond(404, statusError(404, "NotFound", "unknown test operation " + what));
      return;
    }
    respond(200, {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Success"}});
  }

  void resource(const ResourceType& rt, const std::string& ns, const std::string& name, bool status,
                const Target& t) {
    const auto method = request_.method();
    auto body = [&]() -> std::optional<json> {
      try {
        return json::parse(request_.body());
      } catch (const json::exception&) {
        const std::string ct(request_[http::field::content_type]);
        if (ct.find("protobuf") != std::string::npos) {
          respond(415,
                  statusError(415, "UnsupportedMediaType",
                              "test-apiserver accepts JSON bodies only (use kubectl apply -f)"));
        } else {
          respond(400, statusError(400, "BadRequest", "the body is not valid JSON"));
        }
        return std::nullopt;
      }
    };
    if (rt.namespaced && ns.empty() && (method != http::verb::get || !name.empty())) {
      respond(404,
              statusError(404, "NotFound", "the server could not find the requested resource"));
      return;
    }
    Outcome out;
    bool changed = false;
    if (method == http::verb::get && name.empty()) {
      std::string error;
      auto labels = Selector::parseLabels(
          t.query.count("labelSelector") ? t.query.at("labelSelector") : "", &error);
      auto fields = labels ? Selector::parseFields(
                                 t.query.count("fieldSelector") ? t.query.at("fieldSelector") : "",
                                 rt, &error)
                           : std::nullopt;
      if (!labels || !fields) {
        respond(400, statusError(400, "BadRequest", error));
        return;
      }
      const std::string w = t.query.count("watch") ? t.query.at("watch") : "";
      if (w == "1" || w == "true") {
        startWatch(rt, ns, *labels, *fields, t);
        return;
      }
      if (t.query.count("continue") && !t.query.at("continue").empty()) {
        respond(410, statusError(410, "Expired", "the provided continue parameter is too old"));
        return;
      }
      // A resourceVersion with resourceVersionMatch=Exact, or with a limit and no match (the
      // older rule), asks for the list at that version; otherwise the list is current.
      const auto param = [&t](const char* name) {
        return t.query.count(name) ? t.query.at(name) : std::string();
      };
      const std::string rv = param("resourceVersion");
      const std::string match = param("resourceVersionMatch");
      if (!rv.empty() && rv != "0" &&
          (match == "Exact" || (match.empty() && !param("limit").empty()))) {
        if (rv.find_first_not_of("0123456789") != std::string::npos || rv.size() > 18) {
          respond(400, statusError(400, "BadRequest", "invalid resourceVersion \"" + rv + "\""));
          return;
        }
        out = server_.store.listAt(rt, ns, *labels, *fields, std::stoull(rv));
      } else {
        out = server_.store.list(rt, ns, *labels, *fields);
      }
    } else if (method == http::verb::get) {
      out = server_.store.get(rt, ns, name);
    } else if (method == http::verb::post && name.empty()) {
      auto b = body();
      if (!b) {
        return;
      }
      out = server_.store.create(rt, ns, std::move(*b));
      changed = true;
    } else if (method == http::verb::put && !name.empty()) {
      auto b = body();
      if (!b) {
        return;
      }
      out = server_.store.update(rt, ns, name, std::move(*b), status);
      changed = true;
    } else if (method == http::verb::patch && !name.empty()) {
      std::string ct(request_[http::field::content_type]);
      ct = ct.substr(0, ct.find(';'));
      if (ct == "application/apply-patch+yaml") {
        respond(415, statusError(415, "UnsupportedMediaType",
                                 "server-side apply is not supported by test-apiserver"));
        return;
      }
      auto b = body();
      if (!b) {
        return;
      }
      out = server_.store.patch(rt, ns, name, *b, ct, status);
      changed = true;
    } else if (method == http::verb::delete_ && !name.empty()) {
      out = server_.store.remove(rt, ns, name);
      changed = true;
    } else {
      respond(405, statusError(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource"));
      return;
    }
    if (changed && out.code < 300) {
      server_.persist();
    }
    respond(out.code, out.body);
  }

  void startWatch(const ResourceType& rt, const std::string& ns, const Selector& labels,
                  const Selector& fields, const Target& t) {
    if (t.query.count("sendInitialEvents") != 0) {
      respond(422, statusError(422, "Invalid",
                               "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: "
                               "Forbidden: sendInitialEvents is forbidden for watch unless the "
                               "WatchList feature gate is enabled",
                               {{"kind", "ListOptions"}}));
      return;
    }
    log(200);
    watching_ = true;
    auto watcher = std::make_shared<Watcher>();
    watcher->session = weak_from_this();
    watcher->rt = &rt;
    watcher->ns = ns;
    watcher->labels = labels;
    watcher->fields = fields;
    watcher->bookmarks =
        t.query.count("allowWatchBookmarks") && t.query.at("allowWatchBookmarks") == "true";
    watch_response_ = {};
    watch_response_.version(11);
    watch_response_.result(http::status::ok);
    watch_response_.set(http::field::content_type, "application/json");
    watch_response_.set(http::field::transfer_encoding, "chunked");
    watch_serializer_.emplace(watch_response_);
    writing_ = true;
    beast::get_lowest_layer(stream_).expires_never();
    http::async_write_header(stream_, *watch_serializer_,
                             [self = shared_from_this()](error_code ec, std::size_t) {
                               self->writing_ = false;
                               if (ec) {
                                 self->watching_ = false;
                                 return;
                               }
                               self->writeNext();
                             });
    const std::string rv_text =
        t.query.count("resourceVersion") ? t.query.at("resourceVersion") : "";
    const std::uint64_t rv = rv_text.empty() ? 0 : std::stoull(rv_text);
    if (rv_text.empty() || rv_text == "0") {
      for (const auto& obj : server_.store.objects(rt, ns)) {
        if (labels.matches(obj) && fields.matches(obj)) {
          queue_.push_back(json{{"type", "ADDED"}, {"object", obj}}.dump() + "\n");
        }
      }
    } else if (rv < server_.store.oldestWatchable() || server_.expire_watches > 0) {
      if (server_.expire_watches > 0) {
        --server_.expire_watches;
      }
      queue_.push_back(
          json{{"type", "ERROR"},
               {"object",
                statusError(410, "Expired",
                            "too old resource version: " + rv_text + " (" +
                                std::to_string(server_.store.oldestWatchable() + 1) + ")")}}
              .dump() +
          "\n");
      ending_ = true;
      return;
    } else {
      for (const WatchEvent* e : server_.store.eventsSince(rv, rt, ns)) {
        if (auto ev = eventFor(*watcher, *e)) {
          queue_.push_back(ev->dump() + "\n");
        }
      }
    }
    server_.watchers.push_back(watcher);
    watcher_ = watcher;
    const std::string timeout =
        t.query.count("timeoutSeconds") ? t.query.at("timeoutSeconds") : "1800";
    watch_deadline_.emplace(stream_.get_executor());
    watch_deadline_->expires_after(std::chrono::seconds(std::stoi(timeout)));
    watch_deadline_->async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) {
        self->endWatch();
      }
    });
    if (watcher->bookmarks) {
      armBookmark();
    }
  }

  void armBookmark() {
    bookmark_timer_.emplace(stream_.get_executor());
    bookmark_timer_->expires_after(server_.options.bookmark_interval);
    bookmark_timer_->async_wait([self = shared_from_this()](error_code ec) {
      if (ec || !self->watching_ || self->ending_) {
        return;
      }
      auto w = self->watcher_.lock();
      if (w) {
        self->sendEvent(
            {{"type", "BOOKMARK"},
             {"object",
              {{"kind", w->rt->kind},
               {"apiVersion", w->rt->apiVersion()},
               {"metadata",
                {{"resourceVersion", std::to_string(self->server_.store.resourceVersion())}}}}}});
      }
      self->armBookmark();
    });
  }

 public:
  // The event a watcher sees for a change, with selector transitions (A.4).
  static std::optional<json> eventFor(const Watcher& w, const WatchEvent& e) {
    if (e.rt != w.rt) {
      return std::nullopt;
    }
    if (!w.ns.empty() && e.object["metadata"].value("namespace", "") != w.ns) {
      return std::nullopt;
    }
    const bool now = w.labels.matches(e.object) && w.fields.matches(e.object);
    const bool before =
        !e.old_object.is_null() && w.labels.matches(e.old_object) && w.fields.matches(e.old_object);
    std::string type = e.type;
    if (e.type == "MODIFIED") {
      if (now && !before) {
        type = "ADDED";
      } else if (!now && before) {
        type = "DELETED";
      } else if (!now) {
        return std::nullopt;
      }
    } else if (!now && !(e.type == "DELETED" && before)) {
      return std::nullopt;
    }
    return json{{"type", type}, {"object", e.object}};
  }

 private:
  void writeNext() {
    if (writing_) {
      return;
    }
    if (queue_.empty()) {
      if (ending_) {
        writing_ = true;
        net::async_write(
            stream_, http::make_chunk_last(),
            [self = shared_from_this()](error_code, std::size_t) { self->finishWatch(); });
      }
      return;
    }
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    net::async_write(stream_, http::make_chunk(net::buffer(current_)),
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       self->writing_ = false;
                       if (ec) {
                         self->finishWatch();
                         return;
                       }
                       self->writeNext();
                     });
  }

  void finishWatch() {
    watching_ = false;
    if (watch_deadline_) {
      watch_deadline_->cancel();
    }
    if (bookmark_timer_) {
      bookmark_timer_->cancel();
    }
    server_.watchers.remove_if([this](const auto& w) { return w == watcher_.lock(); });
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = shared_from_this()](error_code) {
      beast::get_lowest_layer(self->stream_).close();
    });
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  ApiServer::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  std::optional<net::steady_timer> timer_;
  // Watch state.
  bool watching_ = false;
  bool ending_ = false;
  bool writing_ = false;
  std::deque<std::string> queue_;
  std::string current_;
  http::response<http::empty_body> watch_response_;
  std::optional<http::response_serializer<http::empty_body>> watch_serializer_;
  std::weak_ptr<Watcher> watcher_;
  std::optional<net::steady_timer> watch_deadline_;
  std::optional<net::steady_timer> bookmark_timer_;
};

void ApiServer::Impl::onEvent(const WatchEvent& e) {
  if (drop_next_event) {
    drop_next_event = false;
    return;
  }
  for (auto it = watchers.begin(); it != watchers.end();) {
    auto session = (*it)->session.lock();
    if (!session) {
      it = watchers.erase(it);
      continue;
    }
    if (auto ev = Session::eventFor(**it, e)) {
      session->sendEvent(*ev);
    }
    ++it;
  }
}

void ApiServer::Impl::closeWatches() {
  auto copy = watchers;
  for (auto& w : copy) {
    if (auto session = w->session.lock()) {
      session->endWatch();
    }
  }
}

ApiServer::ApiServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

ApiServer::~ApiServer() { stop(); }

std::uint16_t ApiServer::start() {
  auto& o = impl_->options;
  if (!o.data_dir.empty()) {
    fs::create_directories(o.data_dir);
  }
  const fs::path dir = o.data_dir.empty() ? fs::path() : fs::path(o.data_dir);
  if (!o.data_dir.empty() && fs::exists(dir / "ca.crt") && fs::exists(dir / "token")) {
    impl_->certs = {readAll(dir / "ca.crt"), readAll(dir / "server.crt"),
                    readAll(dir / "server.key")};
    impl_->token = readAll(dir / "token");
  } else {
    impl_->certs = generateCertificates();
    std::random_device rd;
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 32; ++i) {
      impl_->token += kHex[rd() % 16];
    }
    if (!o.data_dir.empty()) {
      writeAll(dir / "ca.crt", impl_->certs.ca_cert);
      writeAll(dir / "server.crt", impl_->certs.server_cert);
      writeAll(dir / "server.key", impl_->certs.server_key);
      writeAll(dir / "token", impl_->token);
    }
  }
  if (!o.data_dir.empty() && fs::exists(dir / "state.json")) {
    impl_->store.load(json::parse(readAll(dir / "state.json")));
  }
  impl_->store.setListener([this](const WatchEvent& e) { impl_->onEvent(e); });
  auto& ctx = impl_->ssl_ctx;
  ctx.use_certificate_chain(net::buffer(impl_->certs.server_cert));
  ctx.use_private_key(net::buffer(impl_->certs.server_key), ssl::context::pem);
  auto acceptor = listenOn(impl_->ioc, o.bind, o.port, false);
  if (!acceptor) {
    throw std::runtime_error(acceptor.error());
  }
  impl_->port = acceptor->local_endpoint().port();
  impl_->acceptor.emplace(std::move(*acceptor));
  struct Loop {
    static void run(Impl& impl) {
      impl.acceptor->async_accept(impl.ioc, [&impl](error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted) {
          return;
        }
        if (!ec) {
          std::make_shared<Session>(std::move(socket), impl)->start();
        }
        run(impl);
      });
    }
  };
  Loop::run(*impl_);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
  return impl_->port;
}

void ApiServer::stop() {
  if (!impl_->thread.joinable()) {
    return;
  }
  impl_->ioc.stop();
  impl_->thread.join();
}

std::string ApiServer::caPem() const { return impl_->certs.ca_cert; }
std::string ApiServer::token() const { return impl_->token; }

std::string ApiServer::kubeconfig() const {
  return "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
         "clusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:" +
         std::to_string(impl_->port) +
         "\n    certificate-authority-data: " + base64(impl_->certs.ca_cert) +
         "\ncontexts:\n- name: test\n  context: {cluster: test, user: test, namespace: default}\n"
         "users:\n- name: test\n  user:\n    token: " +
         impl_->token + "\n";
}

}  // namespace portico::apiserver
