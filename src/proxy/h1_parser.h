#pragma once
// portico's HTTP/1 message parser: request and response heads, then the body's framing
// (Content-Length, chunked, or up to the end of the stream). Internal to src/proxy.
//
// Why not Beast's parser (issue 7): it copied every field into its own node of an rbtree
// (basic_fields), looked each name up in a hash table, and parsed each field byte by byte
// through several layers; that was a fifth of the request path's instructions. This parser
// waits for the whole head (as Beast does), copies it once into storage the parser keeps from
// message to message, and records each field as two views into that copy: in steady state a
// message allocates nothing.
//
// It is strict where leniency smuggles (RFC 9112):
//   - lines end in CRLF; a bare LF or CR in a head is an error, not a line end;
//   - obs-fold (a field line starting with SP or HTAB) is an error, in both directions;
//   - no whitespace between a field name and its colon; names are tokens; values are
//     VCHAR, SP, HTAB and obs-text, nothing else (no NUL, no CTL);
//   - exactly one SP between the parts of the request line; the version is HTTP/d.d;
//   - Content-Length is digits only, once: a second one (even equal) is an error;
//   - chunk sizes are at most 16 hex digits, chunk lines and trailers are bounded;
//   - Transfer-Encoding decides the framing when it ends in chunked; a request whose
//     Transfer-Encoding does not is left without a body for checkRequestHead() to refuse, a
//     response's is read to the end of the stream (and refused by responseHeadProblem()).
// What the proxy checks beyond syntax (Host, framing conflicts, Connection) is in
// request_head.h, on the head this produces.
//
// Errors are Beast's http::error codes, so that callers map them as before: need_more (give
// me more bytes), need_buffer (the body buffer is full), header_limit, body_limit,
// bad_line_ending, bad_method, bad_target, bad_version, bad_status, bad_reason, bad_field,
// bad_value, bad_obs_fold, bad_content_length, bad_chunk, bad_chunk_extension,
// partial_message.
//
// Thread: one at a time (the connection's).

#include <boost/beast/http/error.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico::proxy {

// The fields the proxy looks at, recognized once while parsing (case-insensitively).
enum class FieldId : std::uint8_t {
  kOther,
  kHost,
  kContentLength,
  kTransferEncoding,
  kConnection,
  kKeepAlive,
  kProxyConnection,
  kTe,
  kTrailer,
  kUpgrade,
  kExpect,
  kServer,
  kDate,
  kXForwardedFor,
  kXForwardedProto,
  kXForwardedHost,
  kXForwardedPort,
  kXRequestId,
};
FieldId fieldId(std::string_view name);

struct HeadField {
  std::string_view name;   // as sent
  std::string_view value;  // without leading and trailing whitespace
  FieldId id = FieldId::kOther;
};

// A parsed head. Its views point into storage it owns; they stay valid until the parser that
// filled it starts the next message.
class MessageHead final {
 public:
  std::string_view method() const { return method_; }  // requests
  std::string_view target() const { return target_; }  // requests
  unsigned version() const { return version_; }        // 10 for HTTP/1.0, 11, 20, ...
  unsigned status() const { return status_; }          // responses
  std::string_view reason() const { return reason_; }  // responses, possibly empty

  const std::vector<HeadField>& fields() const { return fields_; }
  std::vector<HeadField>::const_iterator begin() const { return fields_.begin(); }
  std::vector<HeadField>::const_iterator end() const { return fields_.end(); }
  std::size_t count(FieldId id) const;
  // The first value of the field, or empty.
  std::string_view value(FieldId id) const;
  bool has(FieldId id) const { return count(id) > 0; }
  // The head's size as received, in bytes.
  std::size_t size() const { return bytes_.size(); }

 private:
  friend class H1Parser;
  void clear();

  std::string bytes_;  // the head as received
  std::vector<HeadField> fields_;
  std::string_view method_;
  std::string_view target_;
  std::string_view reason_;
  unsigned version_ = 0;
  unsigned status_ = 0;
};

class H1Parser final {
 public:
  using error_code = boost::system::error_code;

  enum class Kind { kRequest, kResponse };
  explicit H1Parser(Kind kind) : kind_(kind) {}

  // Starts a new message: limits and flags back to their defaults, storage kept.
  void reset();
  void headerLimit(std::size_t bytes) { header_limit_ = bytes; }
  // Body bytes allowed (decoded size for chunked); may change between body steps.
  void bodyLimit(std::uint64_t bytes) { body_limit_ = bytes; }
  // A response to HEAD: no body whatever the head says.
  void skipBody(bool skip) { skip_body_ = skip; }

  // Where the next body bytes go; body().size counts down as they are written.
  struct BodyBuffer {
    char* data = nullptr;
    std::size_t size = 0;
  };
  BodyBuffer& body() { return body_; }
  // Body bytes parsed so far (decoded).
  std::uint64_t bodySeen() const { return body_seen_; }

  // Parses from `in` and returns how many bytes it consumed (the caller drops them). One step:
  // the head when it is whole (ec clear, headDone()), or as much body as `in` and the body
  // buffer allow (ec clear, or need_buffer when the buffer filled first). need_more: nothing
  // could be done without more bytes. Any other code is an error and ends the message.
  std::size_t put(std::string_view in, error_code& ec);
  // The stream ended. Completes a body delimited by the end of the stream; anything else
  // begun is partial_message. (end_of_stream before any byte is the caller's to tell.)
  void putEof(error_code& ec);

  bool gotSome() const { return got_some_; }
  bool headDone() const { return state_ > State::kHead; }
  bool done() const { return state_ == State::kDone; }
  // The first line of the head ended within the limit (for 414 against 431).
  bool firstLineDone() const { return first_line_done_; }
  bool chunked() const { return framing_ == Framing::kChunked; }
  // The announced Content-Length, unless Transfer-Encoding overrides it or the response is 1xx
  // or 204. A response to HEAD and a 304 keep theirs (the length the body would have), though
  // no body follows.
  std::optional<std::uint64_t> contentLength() const;
  // After a response head: whether the connection persists after this message (RFC 9112 9.3).
  bool keepAlive() const;
  const MessageHead& head() const { return head_; }

 private:
  enum class State : std::uint8_t {
    kHead,
    kLength,        // Content-Length body
    kToEof,         // body up to the end of the stream
    kChunkSize,     // a chunk-size line
    kChunkData,     // chunk data
    kChunkDataEnd,  // the CRLF after chunk data
    kTrailers,      // the trailer section after the last chunk
    kDone,
  };
  enum class Framing : std::uint8_t { kNone, kLength, kChunked, kToEof };

  std::size_t putHead(std::string_view in, error_code& ec);
  error_code parseHead(std::string_view whole);
  error_code parseStartLine(std::string_view line);
  error_code parseField(std::string_view line);
  error_code decideFraming();
  std::size_t putBody(std::string_view in, error_code& ec);
  std::size_t copyBody(const char* p, std::size_t n);

  Kind kind_;
  State state_ = State::kHead;
  Framing framing_ = Framing::kNone;
  bool skip_body_ = false;
  bool got_some_ = false;
  bool first_line_done_ = false;
  bool close_token_ = false;       // Connection: close
  bool keep_alive_token_ = false;  // Connection: keep-alive
  bool te_present_ = false;        // a Transfer-Encoding field
  bool te_chunked_last_ = false;   // its last coding is chunked
  bool length_seen_ = false;       // a Content-Length field
  std::size_t header_limit_ = 8192;
  std::uint64_t body_limit_ = ~std::uint64_t{0};
  std::uint64_t body_seen_ = 0;  // body bytes so far (decoded)
  std::uint64_t remaining_ = 0;  // of the Content-Length body, or of the current chunk
  std::uint64_t content_length_ = 0;
  std::size_t scanned_ = 0;     // head bytes searched for the end of the head so far
  std::size_t line_start_ = 0;  // where the line being searched began
  std::size_t trailer_bytes_ = 0;
  BodyBuffer body_;
  MessageHead head_;
};

}  // namespace portico::proxy
