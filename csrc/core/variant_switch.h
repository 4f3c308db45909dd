// A two-rung kernel ladder switch ("reference" | "fast") for the families whose
// op layer picks between a plain reference kernel and the fast one
// (embedding, dropout, lrn). pydl.kernels.variants / set_variant / current
// reach it through the <family>_variants / set_<family>_variant /
// <family>_variant entry points. Atomic: ops read it with the GIL released.
#pragma once
#include <atomic>
#include <string>
#include <vector>

#include "core/error.h"

namespace pydl {

class RefFastSwitch {
 public:
  explicit RefFastSwitch(const char* family) : family_(family) {}
  std::vector<std::string> names() const { return {"reference", "fast"}; }
  // "" => the fastest.
  void set(const std::string& name) {
    if (name.empty() || name == "fast") ref_ = false;
    else if (name == "reference") ref_ = true;
    else throw ValueError(str("unknown ", family_, " variant '", name, "'; variants: reference, fast"));
  }
  std::string current() const { return ref_.load() ? "reference" : "fast"; }
  // The op's reference flag: asked for explicitly, or forced for the family.
  bool reference(bool requested) const { return requested || ref_.load(); }

 private:
  const char* family_;
  std::atomic<bool> ref_{false};
};

}  // namespace pydl
