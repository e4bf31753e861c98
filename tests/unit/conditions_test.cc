// Route conditions (snapshot) and their parsers (config/annotations): wildcards, CIDRs, each
// condition field against a request view, and every kind of bad annotation value.

#include "config/annotations/conditions.h"
#include "config/annotations/actions.h"
#include "config/annotations/table.h"
#include "config/annotations/target_group.h"
#include "snapshot/snapshot.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace portico {
namespace {

using snapshot::Condition;
using snapshot::globMatch;

TEST(Glob, StarAndQuestionMark) {
  struct Case {
    const char* pattern;
    const char* text;
    bool fold;
    bool match;
  };
  const Case cases[] = {
      {"abc", "abc", false, true},
      {"abc", "ABC", false, false},
      {"abc", "ABC", true, true},
      {"a*c", "ac", false, true},
      {"a*c", "abbbc", false, true},
      {"a*c", "abbbd", false, false},
      {"a?c", "abc", false, true},
      {"a?c", "ac", false, false},
      {"*", "", false, true},
      {"", "", false, true},
      {"", "a", false, false},
      {"*.example.com", "a.b.example.com", true, true},
      {"/api/*/items", "/api/v1/items", false, true},
      {"/api/*/items", "/api/v1/items/x", false, false},
      {"*a*b*c*", "xxaxxbxxcxx", false, true},
      {"*a*b*c*", "xxaxxcxxbxx", false, false},
      {"beta-*", "BETA-7", true, true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(globMatch(c.pattern, c.text, c.fold), c.match)
        << c.pattern << " vs " << c.text << " fold=" << c.fold;
  }
  // Many stars against a long text: linear, not exponential.
  EXPECT_FALSE(globMatch("*a*a*a*a*a*a*a*a*b", std::string(5000, 'a'), false));
}

std::array<std::uint8_t, 16> ip(const char* text) {
  auto range = config::annotations::parseCidr(text);
  EXPECT_TRUE(range.has_value()) << text;
  return range ? range->address : std::array<std::uint8_t, 16>{};
}

TEST(Cidr, Ipv4AndIpv6RangesAndBadOnes) {
  const auto r4 = config::annotations::parseCidr("10.1.2.3/8");
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->prefix, 104);
  EXPECT_TRUE(r4->contains(ip("10.200.0.1")));
  EXPECT_FALSE(r4->contains(ip("11.0.0.1")));
  EXPECT_FALSE(r4->contains(ip("::ffff:b00:1")));  // 11.0.0.1 mapped
  const auto r6 = config::annotations::parseCidr("2001:db8::/33");
  ASSERT_TRUE(r6);
  EXPECT_TRUE(r6->contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(r6->contains(ip("2001:db8:8000::1")));
  const auto host = config::annotations::parseCidr("192.0.2.7");
  ASSERT_TRUE(host);
  EXPECT_TRUE(host->contains(ip("192.0.2.7")));
  EXPECT_FALSE(host->contains(ip("192.0.2.8")));
  EXPECT_TRUE(config::annotations::parseCidr("0.0.0.0/0")->contains(ip("8.8.8.8")));
  for (const char* bad : {"10.0.0.0/33", "2001:db8::/129", "10.0.0", "host/8", "", "10.0.0.0/x",
                          "10.0.0.0/-1", "1.2.3.4/ 8"}) {
    EXPECT_FALSE(config::annotations::parseCidr(bad).has_value()) << bad;
  }
}

struct Headers {
  std::vector<std::pair<std::string, std::string>> fields;
  static bool at(const void* self, std::size_t i, std::string_view& name, std::string_view& value) {
    const auto& f = static_cast<const Headers*>(self)->fields;
    if (i >= f.size()) {
      return false;
    }
    name = f[i].first;
    value = f[i].second;
    return true;
  }
};

snapshot::Route routeWith(const std::string& conditions_json) {
  std::string error;
  auto conditions = config::annotations::parseConditionsJson(conditions_json, error);
  EXPECT_TRUE(conditions.has_value()) << error;
  snapshot::Route r{snapshot::PathMatch::kPrefix, "", snapshot::Forward{}, {}, "ns/i"};
  r.conditions = conditions.value_or(std::vector<Condition>{});
  return r;
}

TEST(Conditions, EachFieldAgainstARequest) {
  Headers headers{{{"Host", "a.test"}, {"X-Env", "Beta-2"}, {"x-env", "prod"}}};
  const auto source = ip("192.0.2.10");
  snapshot::RequestView r;
  r.host = "API.Example.com:8443";
  r.path = "/api/v1/items";
  r.query = "a=1&Version=V2&flag";
  r.method = "POST";
  r.source = &source;
  r.headers = &headers;
  r.header_at = &Headers::at;
  struct Case {
    const char* json;
    bool match;
  };
  const Case cases[] = {
      {R"([{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"x-ENV","values":["beta-?"]}}])",
       true},
      {R"([{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Env","values":["staging"]}}])",
       false},
      {R"([{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-None","values":["*"]}}])",
       false},
      {R"([{"field":"query-string","queryStringConfig":{"values":[{"key":"version","value":"v?"}]}}])",
       true},
      {R"([{"field":"query-string","queryStringConfig":{"values":[{"key":"flag"}]}}])", true},
      {R"([{"field":"query-string","queryStringConfig":{"values":[{"value":"1"}]}}])", true},
      {R"([{"field":"query-string","queryStringConfig":{"values":[{"key":"b"}]}}])", false},
      {R"([{"field":"http-request-method","httpRequestMethodConfig":{"values":["GET","POST"]}}])",
       true},
      {R"([{"field":"http-request-method","httpRequestMethodConfig":{"values":["post"]}}])", false},
      {R"([{"field":"source-ip","sourceIpConfig":{"values":["192.0.2.0/28"]}}])", true},
      {R"([{"field":"source-ip","sourceIpConfig":{"values":["192.0.2.16/28","::1/128"]}}])", false},
      {R"([{"field":"host-header","hostHeaderConfig":{"values":["*.example.com"]}}])", true},
      {R"([{"field":"host-header","hostHeaderConfig":{"values":["example.com"]}}])", false},
      {R"([{"field":"path-pattern","pathPatternConfig":{"values":["/api/*"]}}])", true},
      {R"([{"field":"path-pattern","pathPatternConfig":{"values":["/API/*"]}}])", false},
      // All must hold.
      {R"([{"field":"http-request-method","httpRequestMethodConfig":{"values":["POST"]}},
           {"field":"path-pattern","pathPatternConfig":{"values":["/other"]}}])",
       false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(routeWith(c.json).matches(r), c.match) << c.json;
  }
  // Without headers or a source address, conditions on them never hold.
  snapshot::RequestView bare;
  bare.path = "/";
  EXPECT_FALSE(routeWith(cases[0].json).matches(bare));
  EXPECT_FALSE(routeWith(cases[9].json).matches(bare));
}

TEST(Conditions, EveryKindOfBadValueIsAClearError) {
  struct Case {
    const char* json;
    const char* error;
  };
  const Case cases[] = {
      {"not json", "parse error"},
      {R"({"field":"http-header"})", "must be a JSON list of conditions"},
      {R"(["x"])", "each condition must be an object"},
      {R"([{"values":["a"]}])", "needs a \"field\""},
      {R"([{"field":"cookie"}])", "\"cookie\" is not a condition field"},
      {R"([{"field":"http-header","httpHeaderConfig":{"values":["a"]}}])", "httpHeaderName"},
      {R"([{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"bad name","values":["a"]}}])",
       "httpHeaderName"},
      {R"([{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X","values":[]}}])",
       "non-empty list"},
      {R"([{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X","values":[1]}}])",
       "non-empty strings"},
      {R"([{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X","values":["1","2","3","4","5","6"]}}])",
       "more than 5"},
      {R"([{"field":"http-request-method","httpRequestMethodConfig":{"values":["G T"]}}])",
       "not a method name"},
      {R"([{"field":"path-pattern","pathPatternConfig":{"values":["api"]}}])",
       "must start with '/'"},
      {R"([{"field":"query-string","queryStringConfig":{"values":[{}]}}])", "needs a \"key\""},
      {R"([{"field":"query-string","queryStringConfig":{"values":[{"key":1}]}}])", "strings"},
      {R"([{"field":"source-ip","sourceIpConfig":{"values":["10.0.0.0/40"]}}])", "is not a CIDR"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(config::annotations::parseConditionsJson(c.json, error).has_value()) << c.json;
    EXPECT_NE(error.find(c.error), std::string::npos) << c.json << ": " << error;
  }
}

TEST(Actions, EveryKindOfBadValueIsAClearError) {
  struct Case {
    const char* json;
    const char* error;
  };
  const Case cases[] = {
      {"[]", "\"type\""},
      {R"({"type":"authenticate-oidc"})", "is not an action type"},
      {R"({"type":"forward"})", "needs an object \"forwardConfig\""},
      {R"({"type":"forward","forwardConfig":{"targetGroups":[]}})", "non-empty list"},
      {R"({"type":"forward","forwardConfig":{"targetGroups":[{"targetGroupARN":"arn:aws:x"}]}})",
       "targetGroupARN"},
      {R"({"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a"}]}})",
       "needs a \"servicePort\""},
      {R"({"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":0}]}})",
       "is not a port"},
      {R"({"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80,"weight":1000}]}})",
       "from 0 to 999"},
      {R"({"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80,"weight":0}]}})",
       "sum to 0"},
      {R"({"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80}],
           "targetGroupStickinessConfig":{"enabled":"yes"}}})",
       "true or false"},
      {R"({"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80}],
           "targetGroupStickinessConfig":{"enabled":true,"durationSeconds":0}}})",
       "durationSeconds"},
      {R"({"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80}],
           "targetGroupStickinessConfig":{"enabled":true,"cookieName":"a b"}}})",
       "cookieName"},
      {R"({"type":"redirect","redirectConfig":{"protocol":"FTP","statusCode":"HTTP_301"}})",
       "protocol"},
      {R"({"type":"redirect","redirectConfig":{"host":"a/b","statusCode":"HTTP_301"}})", "host"},
      {R"({"type":"redirect","redirectConfig":{"port":"99999","statusCode":"HTTP_301"}})", "port"},
      {R"({"type":"redirect","redirectConfig":{"path":"x","statusCode":"HTTP_301"}})",
       "start with '/'"},
      {R"({"type":"redirect","redirectConfig":{"query":"?a","statusCode":"HTTP_301"}})", "'?'"},
      {R"({"type":"redirect","redirectConfig":{"host":"x.test","statusCode":"HTTP_308"}})",
       "HTTP_301 or HTTP_302"},
      {R"({"type":"redirect","redirectConfig":{"host":"x.test\r\nSet-Cookie: a","statusCode":"HTTP_301"}})",
       "control characters"},
      {R"({"type":"redirect","redirectConfig":{"statusCode":"HTTP_301"}})", "a loop"},
      {R"({"type":"fixed-response","fixedResponseConfig":{"statusCode":"302"}})",
       "2XX, 4XX or 5XX"},
      {R"({"type":"fixed-response","fixedResponseConfig":{"statusCode":"200","contentType":"image/png"}})",
       "contentType"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(config::annotations::parseActionJson(c.json, error).has_value()) << c.json;
    EXPECT_NE(error.find(c.error), std::string::npos) << c.json << ": " << error;
  }
  std::string error;
  const std::string body(1025, 'x');
  EXPECT_FALSE(config::annotations::parseActionJson(
      R"({"type":"fixed-response","fixedResponseConfig":{"statusCode":"200","messageBody":")" +
          body + "\"}}",
      error));
  EXPECT_NE(error.find("at most 1024"), std::string::npos) << error;
}

TEST(TargetGroupAnnotations, SuccessCodesAndBadValues) {
  using config::annotations::parseSuccessCodes;
  EXPECT_EQ(*parseSuccessCodes("200"),
            (std::vector<std::pair<std::uint16_t, std::uint16_t>>{{200, 200}}));
  EXPECT_EQ(*parseSuccessCodes("302, 200-299"),
            (std::vector<std::pair<std::uint16_t, std::uint16_t>>{{200, 299}, {302, 302}}));
  for (const char* bad : {"", "ok", "100", "200-", "299-200", "200,,201", "500"}) {
    EXPECT_FALSE(parseSuccessCodes(bad).has_value()) << bad;
  }
  model::ObjectMeta meta;
  meta.namespace_ = "ns";
  meta.name = "s";
  meta.annotations = {{"portico.dev/healthcheck-port", "http"},
                      {"portico.dev/healthcheck-protocol", "UDP"},
                      {"portico.dev/load-balancing-hash-key", "query:a"},
                      {"portico.dev/target-type", "instance"},
                      {"portico.dev/slow-start-seconds", "901"}};
  std::vector<config::Diagnostic> diagnostics;
  EXPECT_FALSE(config::annotations::parseTargetGroup(meta, "Service", diagnostics).has_value());
  ASSERT_EQ(diagnostics.size(), 5u);
  for (const auto& d : diagnostics) {
    EXPECT_EQ(d.kind, "Service");
    EXPECT_EQ(d.field.rfind("metadata.annotations[\"portico.dev/", 0), 0u) << d.field;
  }
}

// docs/annotations.md is the annotation table, rendered: it must not drift from the code.
TEST(AnnotationTable, TheUserGuideTableIsUpToDate) {
  const std::string path = std::string(PORTICO_SOURCE_DIR) + "/docs/annotations.md";
  const std::string expected = config::annotations::annotationTableMarkdown();
  if (std::getenv("PORTICO_WRITE_DOCS") != nullptr) {
    std::ofstream(path) << expected;
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), expected) << "run PORTICO_WRITE_DOCS=1 "
                                  << ::testing::UnitTest::GetInstance()->current_test_info()->name()
                                  << " to rewrite " << path;
  // Every name is unique, and every portico.dev/ name parsed somewhere is in it.
  std::set<std::string_view> names;
  for (const auto& a : config::annotations::annotationTable()) {
    EXPECT_TRUE(names.insert(a.name).second) << a.name;
  }
  for (const char* known :
       {config::annotations::kHealthcheckPath, config::annotations::kAlgorithm,
        config::annotations::kTargetType, config::annotations::kGroupOrder,
        config::annotations::kConditionsPrefix, config::annotations::kActionsPrefix}) {
    EXPECT_EQ(names.count(known), 1u) << known;
  }
}

}  // namespace
}  // namespace portico
