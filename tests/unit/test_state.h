#pragma once
// Builds a ClusterState from manifest YAML, for compiler and snapshot tests.

#include "manifests.h"
#include "model/cluster_state.h"
#include "model/decode.h"
#include "model/yaml_json.h"
#include "snapshot/snapshot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace portico::testing {

inline std::vector<model::Object> objectsFromYaml(const std::string& yaml) {
  std::vector<model::Object> out;
  auto docs = model::parseManifestText(yaml, model::TextFormat::kYaml);
  EXPECT_TRUE(docs.ok()) << (docs.ok() ? "" : docs.error());
  if (!docs.ok()) {
    return out;
  }
  for (const auto& doc : *docs) {
    auto obj = model::decodeObject(doc);
    EXPECT_TRUE(obj.ok()) << (obj.ok() ? "" : obj.error());
    if (obj.ok() && obj->has_value()) {
      out.push_back(**obj);
    }
  }
  return out;
}

inline model::ClusterState stateFrom(const std::vector<model::Object>& objects) {
  model::ClusterState state;
  for (const auto& o : objects) {
    state.upsert(o);
  }
  return state;
}

inline model::ClusterState stateFromYaml(const std::string& yaml) {
  return stateFrom(objectsFromYaml(yaml));
}

// A snapshot of target groups only (no hosts): for balancer and runtime-state tests.
inline std::shared_ptr<const snapshot::Snapshot> snapshotOf(
    std::vector<snapshot::TargetGroup> target_groups) {
  return std::make_shared<const snapshot::Snapshot>(
      std::move(target_groups), std::vector<snapshot::VirtualHost>{}, snapshot::VirtualHost{});
}

}  // namespace portico::testing
