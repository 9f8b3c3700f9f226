// The hidden export tables cudart asks for with cuGetExportTable.
#pragma once
#include "intercept/md2.h"
#include "runtime/cuda_internal.h"
#include <cstdint>
#include <vector>

namespace cuvirt {

// The UUIDs, as their 16 bytes in memory order (cudart-contract.md).
inline constexpr CUuuid kCudartInterfaceId = {{'\x6b', '\xd5', '\xfb', '\x6c', '\x5b', '\xf4', '\xe7', '\x4a',
                                               '\x89', '\x87', '\xd9', '\x39', '\x12', '\xfd', '\x9d',
                                               '\xf9'}};
inline constexpr CUuuid kToolsRuntimeCallbackHooksId = {{'\xa0', '\x94', '\x79', '\x8c', '\x2e', '\x74',
                                                         '\x2e', '\x74', '\x93', '\xf2', '\x08', '\x00',
                                                         '\x20', '\x0c', '\x0a', '\x66'}};
inline constexpr CUuuid kToolsTlsId = {{'\x42', '\xd8', '\x5a', '\x81', '\x23', '\xf6', '\xcb', '\x47',
                                        '\x82', '\x98', '\xf6', '\xe7', '\x8a', '\x3a', '\xec', '\xdc'}};
inline constexpr CUuuid kContextLocalStorageId = {{'\xc6', '\x93', '\x33', '\x6e', '\x11', '\x21', '\xdf',
                                                   '\x11', '\xa8', '\xc3', '\x68', '\xf3', '\x55', '\xd8',
                                                   '\x95', '\x93'}};
inline constexpr CUuuid kContextChecksId = {{'\x26', '\x3e', '\x88', '\x60', '\x7c', '\xd2', '\x61', '\x43',
                                             '\x92', '\xf6', '\xbb', '\xd5', '\x00', '\x6d', '\xfa', '\x7e'}};
inline constexpr CUuuid kIntegrityCheckId = {{'\xd4', '\x08', '\x20', '\x55', '\xbd', '\xe6', '\x70', '\x4b',
                                              '\x8d', '\x34', '\xba', '\x12', '\x3c', '\x66', '\xe1',
                                              '\xf2'}};

/// Context and stream identities (21318c60-...): cuBLAS asks for it. Slot 0
/// is the table size; cuvirt answers slots 4, 39 and 51 (see export_tables.cpp).
inline constexpr CUuuid kContextStreamId = {{'\x21', '\x31', '\x8c', '\x60', '\x97', '\x14', '\x32', '\x48',
                                             '\x8c', '\xa6', '\x41', '\xff', '\x73', '\x24', '\xc8', '\xf2'}};

/// The table for a UUID, or nullptr.
const void *exportTable(const CUuuid &id);

/// What INTEGRITY_CHECK slot 1 hashes for v % 10 >= 2 (cudart-contract.md).
struct IntegrityInputs {
  std::uint32_t driverVersion = 0, version = 0, pid = 0, thread = 0;
  std::uint64_t cudartInterfaceTable = 0, integrityTable = 0, integritySlot = 0, unixSeconds = 0;
  struct DeviceId {
    CUuuid uuid;
    std::int32_t pciDomain, pciBus, pciDevice;
  };
  std::vector<DeviceId> devices;
};

/// HMAC-MD2 over the inputs, with cudart's fixed key.
Md2Digest integrityDigest(const IntegrityInputs &in);

/// The same, for this driver's own tables and devices.
Md2Digest integrityDigest(std::uint32_t version, std::uint64_t unixSeconds, std::uint32_t pid,
                          std::uint32_t thread);

/// The fixed answers for v % 10 == 0 and 1; false for the others.
bool integrityConstant(std::uint32_t version, std::uint64_t out[2]);

/// Drops cudart's context-local values of a destroyed or reset context.
void forgetContextStorage(const void *context);

} // namespace cuvirt
