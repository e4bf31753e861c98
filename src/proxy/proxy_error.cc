#include "proxy/proxy_error.h"

namespace portico::proxy {

unsigned proxyErrorStatus(const ProxyError& error) {
  switch (error.cause) {
    case Cause::kMalformed:
      return 400;
    case Cause::kUriTooLong:
      return 414;
    case Cause::kHeadersTooLarge:
      return 431;
    case Cause::kBodyTooLarge:
      return 413;
    case Cause::kClientTimeout:
      return 408;
    case Cause::kMethodNotAllowed:
      return 405;
    case Cause::kNotImplemented:
      return 501;
    case Cause::kVersion:
      return 505;
    case Cause::kNoRoute:
      return 404;
    case Cause::kNoEndpoint:
      return 503;
    case Cause::kTimeout:
      return 504;
    case Cause::kRefused:
    case Cause::kInvalidResponse:
      return 502;
    case Cause::kClientAborted:
      return 499;  // nginx's code for it: logged and counted, never sent
  }
  return 500;
}

Cause causeForStatus(unsigned status) {
  switch (status) {
    case 405:
      return Cause::kMethodNotAllowed;
    case 414:
      return Cause::kUriTooLong;
    case 501:
      return Cause::kNotImplemented;
    case 505:
      return Cause::kVersion;
    default:
      return Cause::kMalformed;
  }
}

const char* phaseName(Phase phase) {
  switch (phase) {
    case Phase::kReadHeader:
      return "readHeader";
    case Phase::kRoute:
      return "route";
    case Phase::kRequestPolicies:
      return "requestPolicies";
    case Phase::kAction:
      return "action";
    case Phase::kSelectUpstream:
      return "selectUpstream";
    case Phase::kConnect:
      return "connect";
    case Phase::kForwardRequest:
      return "forwardRequest";
    case Phase::kUpstreamHeaders:
      return "upstreamHeaders";
    case Phase::kResponsePolicies:
      return "responsePolicies";
    case Phase::kForwardBody:
      return "forwardBody";
    case Phase::kLog:
      return "log";
  }
  return "unknown";
}

const char* causeName(Cause cause) {
  switch (cause) {
    case Cause::kMalformed:
      return "malformed";
    case Cause::kUriTooLong:
      return "uri_too_long";
    case Cause::kHeadersTooLarge:
      return "headers_too_large";
    case Cause::kBodyTooLarge:
      return "body_too_large";
    case Cause::kClientTimeout:
      return "client_timeout";
    case Cause::kMethodNotAllowed:
      return "method_not_allowed";
    case Cause::kNotImplemented:
      return "not_implemented";
    case Cause::kVersion:
      return "version";
    case Cause::kNoRoute:
      return "no_route";
    case Cause::kNoEndpoint:
      return "no_endpoint";
    case Cause::kRefused:
      return "refused";
    case Cause::kTimeout:
      return "timeout";
    case Cause::kInvalidResponse:
      return "invalid_response";
    case Cause::kClientAborted:
      return "client_aborted";
  }
  return "unknown";
}

}  // namespace portico::proxy
