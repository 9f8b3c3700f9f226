// Helpers for the lower() tests.
#pragma once
#include "translate/ptx/lower.h"
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>
#include <string>

/// Lowers `ptx` with CPU-like hooks; on failure returns "" and sets `log`.
/// With `gpuLike`, uses distinct address spaces and AMDGPU-style scopes, as a
/// GPU target would (the IR must still verify).
inline std::string lowerToText(std::string_view ptx, llvm::LLVMContext &ctx, std::string &log,
                               bool *ok = nullptr, bool gpuLike = false) {
  cuvirt::ptx::TargetHooks hooks;
  hooks.scopeCta = "block";
  hooks.scopeGpu = "device";
  if (gpuLike) {
    hooks.triple = "amdgcn-amd-amdhsa";
    hooks.dataLayout = "e-p:64:64-p1:64:64-p2:32:32-p3:32:32-p4:64:64-p5:32:32-p6:32:32-p7:160:256:256:32-"
                       "p8:128:128:128:48-p9:192:256:256:32-i64:64-v16:16-v24:32-v32:32-v48:64-v96:128-"
                       "v192:256-v256:256-v512:512-v1024:1024-v2048:2048-n32:64-S32-A5-G1-ni:7:8:9";
    hooks.globalAS = 1;
    hooks.sharedAS = 3;
    hooks.constAS = 4;
    hooks.localAS = 5;
    hooks.genericAS = 0;
    hooks.scopeCta = "workgroup";
    hooks.scopeGpu = "agent";
    hooks.scopeSys = "";
  }
  auto r = cuvirt::ptx::lower(ptx, ctx, hooks, log);
  if (ok)
    *ok = r.ok();
  if (!r.ok())
    return "";
  std::string s;
  llvm::raw_string_ostream os(s);
  r->module->print(os, nullptr);
  return s;
}
