// grid_sync_rounds.cu with its grid syncs, ranks and sizes through the device
// runtime (libcudadevrt's cudaCGSynchronize, cudaCGSynchronizeGrid,
// cudaCGGetRank, cudaCGGetSize; numba-cuda's this_grid().sync() calls the
// first); built -rdc=true -lcudadevrt.
#define GRID_SYNC_DEVRT 1
#include "grid_sync_rounds.cu"
