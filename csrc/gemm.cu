// Our SGEMM for the GPU: C (M×N) = alpha · op(A) · op(B) + beta · C, row-major (gemm.h), plain fp32
// FMAs (no tensor cores, no TF32), so results agree with the CPU sgemm to fp32 rounding.
//
// Tiling. A block owns a BM×BN tile of C and walks K in steps of BK. Each step stages op(A)[BM×BK]
// and op(B)[BK×BN] in shared memory, both k-major (As[k][m], Bs[k][n]), so that for one k the inner
// loop reads a column of op(A) and a row of op(B) as float4s. A thread owns TM×TN outputs in
// registers (2-D register blocking): per k it does TM·TN FMAs for (TM+TN)/4 float4 shared loads.
// Its TM rows are TM/4 runs of 4, run r starting at r·STEP_M + 4·tm (STEP_M = 4·threads along m),
// likewise for columns; a warp is 4×8 threads, so per k it reads 4 consecutive float4s of As and 8
// of Bs (broadcast within the warp, no bank conflicts), and its stores of C are 128-byte rows.
//
// Arithmetic intensity. Per step a block reads (BM+BN)·BK floats from global memory (L2) for
// 2·BM·BN·BK FLOPs, i.e. BM·BN / (2·(BM+BN)) FLOP/byte: 32 for 128×128, 16 for 64×64, 8 for 32×32.
// The H200 needs ~14 FLOP/byte from HBM (67 TFLOP/s over 4.8 TB/s) and, at an L2 bandwidth of
// roughly 10 TB/s (an estimate), ~7 from L2, so the 128×128 tile is compute-bound; the smaller tiles
// trade intensity for parallelism and are used only when the big tile leaves SMs idle (the LSTM's
// 24×1024×256 step has 8 big tiles for 132 SMs).
// In shared memory an 8×8 thread tile does 64 FMAs per 4 LDS.128 (the SM's shared bandwidth then
// roughly matches its FMA rate); a 4×4 tile does 16 per 2, which caps the small config lower.
//
// Pipeline. Register prefetch, double-buffered shared memory: while the FMAs run on step t's tiles,
// step t+1's tiles are already in flight from global memory into registers; after the FMAs they go
// into the other shared buffer. One __syncthreads per step: a buffer is rewritten only after the
// barrier that ends the step reading it, and read only after the barrier that ends its writing.
//
// Transposes are handled by how tiles are loaded, never by a transposed copy. An operand element
// X(mn, k) (op(A)(m, k), or op(B)(k, n) with mn = n) is stored either k-contiguous at X[mn·ld + k]
// (A as is, B transposed) or mn-contiguous at X[k·ld + mn] (A transposed, B as is). A k-contiguous
// tile is read as float4s along k and scattered into the k-major shared tile (its +4 row padding
// keeps those stores free of bank conflicts); an mn-contiguous tile is copied float4 for float4.
//
// Edges and alignment. Elements outside op(A) or op(B) load as 0, so partial tiles in M, N and K
// need no special inner loop. A float4 access is used only when the pointer is 16-byte aligned (the
// base is, and ld is a multiple of 4) and all 4 elements are inside; otherwise 4 guarded scalars.
// beta == 0 never reads C (it may hold NaN); alpha == 0 skips the K loop (C = beta·C without reading
// A or B, as BLAS does); K == 0 gives C = beta·C.
#include "gemm.h"

#include "device.h"

namespace lrcn {
namespace {

// One thread's share of a BK-deep tile of an MN×K operand (see "Transposes" above), in registers.
template <int BMN, int BK, int THREADS, bool K_CONTIG>
struct TileLoader {
  static_assert((BMN * BK) % (4 * THREADS) == 0, "the tile must split evenly into float4s");
  static constexpr int kVecs = BMN * BK / (4 * THREADS);
  float4 r[kVecs];

  // Tile coordinates (mn, k) of the first of the 4 elements of this thread's v-th float4.
  __device__ static void slot(int v, int& mn, int& k) {
    const int s = threadIdx.x + v * THREADS;
    if (K_CONTIG) {
      mn = s / (BK / 4);
      k = s % (BK / 4) * 4;
    } else {
      k = s / (BMN / 4);
      mn = s % (BMN / 4) * 4;
    }
  }

  // Loads the tile at (mn0, k0); vec: X is 16-byte aligned and ld % 4 == 0.
  __device__ void load(const float* __restrict__ X, int ld, int MN, int K, int mn0, int k0, bool vec) {
#pragma unroll
    for (int v = 0; v < kVecs; ++v) {
      int mn, k;
      slot(v, mn, k);
      mn += mn0;
      k += k0;
      // The 4 elements run along k (K_CONTIG) or along mn, inside a row that exists or not.
      const bool row_inside = K_CONTIG ? mn < MN : k < K;
      const int along = K_CONTIG ? k : mn, along_end = K_CONTIG ? K : MN;
      const float* p = K_CONTIG ? X + (int64_t)mn * ld + k : X + (int64_t)k * ld + mn;
      if (vec && row_inside && along < along_end - 3) {
        r[v] = *reinterpret_cast<const float4*>(p);
      } else {
        r[v].x = row_inside && along < along_end ? p[0] : 0.f;
        r[v].y = row_inside && along < along_end - 1 ? p[1] : 0.f;
        r[v].z = row_inside && along < along_end - 2 ? p[2] : 0.f;
        r[v].w = row_inside && along < along_end - 3 ? p[3] : 0.f;
      }
    }
  }

  // Writes the registers into the k-major shared tile S[BK][BMN + 4].
  __device__ void store(float (*S)[BMN + 4]) const {
#pragma unroll
    for (int v = 0; v < kVecs; ++v) {
      int mn, k;
      slot(v, mn, k);
      if (K_CONTIG) {
        S[k][mn] = r[v].x;
        S[k + 1][mn] = r[v].y;
        S[k + 2][mn] = r[v].z;
        S[k + 3][mn] = r[v].w;
      } else {
        *reinterpret_cast<float4*>(&S[k][mn]) = r[v];
      }
    }
  }
};

// c[q] = v[q] + beta·c[q] for the q < n columns that exist (n >= 4: all four); beta == 0 reads nothing.
__device__ __forceinline__ void store_c(float* c, float4 v, int n, float beta, bool vec) {
  if (vec && n >= 4) {
    if (beta != 0.f) {
      const float4 old = *reinterpret_cast<const float4*>(c);
      v.x += beta * old.x;
      v.y += beta * old.y;
      v.z += beta * old.z;
      v.w += beta * old.w;
    }
    *reinterpret_cast<float4*>(c) = v;
  } else {
    const float w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int q = 0; q < 4; ++q)
      if (q < n) c[q] = beta == 0.f ? w[q] : w[q] + beta * c[q];
  }
}

// Block tile BM×BN×BK, thread tile TM×TN; 1-D grid over the tiles of C, row of tiles by row.
template <int BM, int BN, int BK, int TM, int TN, int MIN_BLOCKS, bool TRANS_A, bool TRANS_B>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), MIN_BLOCKS)
gemm_kernel(int M, int N, int K, float alpha, const float* __restrict__ A, int lda, bool vec_a,
            const float* __restrict__ B, int ldb, bool vec_b, float beta, float* __restrict__ C,
            int ldc, bool vec_c, int k_chunk, int64_t c_split_stride) {
  constexpr int THREADS_M = BM / TM, THREADS_N = BN / TN, THREADS = THREADS_M * THREADS_N;
  constexpr int STEP_M = 4 * THREADS_M, STEP_N = 4 * THREADS_N;
  static_assert(TM % 4 == 0 && TN % 4 == 0, "thread tiles are made of 4×4 runs");
  static_assert(THREADS_M % 4 == 0 && THREADS_N % 8 == 0, "warps are 4×8 threads");
  __shared__ __align__(16) float As[2][BK][BM + 4];
  __shared__ __align__(16) float Bs[2][BK][BN + 4];

  // Split-K (gemm_plan): this block's k range, and its own slice of C (stride 0 without a split).
  const int k_begin = blockIdx.y * k_chunk, k_end = K - k_begin < k_chunk ? K : k_begin + k_chunk;
  C += blockIdx.y * c_split_stride;
  const int tiles_n = (N + BN - 1) / BN, tile = blockIdx.x;
  const int m0 = tile / tiles_n * BM, n0 = tile % tiles_n * BN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int tm = warp / (THREADS_N / 8) * 4 + lane / 8, tn = warp % (THREADS_N / 8) * 8 + lane % 8;

  TileLoader<BM, BK, THREADS, !TRANS_A> a_tile;  // op(A)(m, k): A[m·lda + k], or A[k·lda + m]
  TileLoader<BN, BK, THREADS, TRANS_B> b_tile;   // op(B)(k, n): B[k·ldb + n], or B[n·ldb + k]
  float acc[TM][TN] = {};
  const int k_tiles = alpha == 0.f ? 0 : (k_end - k_begin + BK - 1) / BK;
  if (k_tiles > 0) {
    a_tile.load(A, lda, M, k_end, m0, k_begin, vec_a);
    b_tile.load(B, ldb, N, k_end, n0, k_begin, vec_b);
    a_tile.store(As[0]);
    b_tile.store(Bs[0]);
    __syncthreads();
  }
  for (int t = 0; t < k_tiles; ++t) {
    const int cur = t & 1;
    const bool more = t + 1 < k_tiles;
    if (more) {  // in flight during the FMAs below
      a_tile.load(A, lda, M, k_end, m0, k_begin + (t + 1) * BK, vec_a);
      b_tile.load(B, ldb, N, k_end, n0, k_begin + (t + 1) * BK, vec_b);
    }
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; i += 4) {
        const float4 v = *reinterpret_cast<const float4*>(&As[cur][kk][i / 4 * STEP_M + 4 * tm]);
        a[i] = v.x, a[i + 1] = v.y, a[i + 2] = v.z, a[i + 3] = v.w;
      }
#pragma unroll
      for (int j = 0; j < TN; j += 4) {
        const float4 v = *reinterpret_cast<const float4*>(&Bs[cur][kk][j / 4 * STEP_N + 4 * tn]);
        b[j] = v.x, b[j + 1] = v.y, b[j + 2] = v.z, b[j + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (more) {
      a_tile.store(As[cur ^ 1]);
      b_tile.store(Bs[cur ^ 1]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int row = m0 + i / 4 * STEP_M + 4 * tm + i % 4;
    if (row >= M) continue;
    float* c_row = C + (int64_t)row * ldc;
#pragma unroll
    for (int j = 0; j < TN; j += 4) {
      const int col = n0 + j / 4 * STEP_N + 4 * tn;
      const float4 v = make_float4(alpha * acc[i][j], alpha * acc[i][j + 1], alpha * acc[i][j + 2],
                                   alpha * acc[i][j + 3]);
      store_c(c_row + col, v, N - col, beta, vec_c);
    }
  }
}

// C[m, n] = alpha · Σ_{s < splits} part[s][m, n] + beta · C[m, n], s ascending (beta == 0 reads no C).
__global__ void split_sum_kernel(float* C, int ldc, const float* part, int64_t stride, int M, int N, int splits,
                                 float alpha, float beta) {
  LRCN_KERNEL_LOOP(i, (int64_t)M * N) {
    float s = 0.f;
    for (int k = 0; k < splits; ++k) s += part[k * stride + i];
    float* c = C + i / N * ldc + i % N;
    *c = beta == 0.f ? alpha * s : alpha * s + beta * *c;
  }
}

bool vectorizable(const void* p, int ld) { return reinterpret_cast<uintptr_t>(p) % 16 == 0 && ld % 4 == 0; }

// One launch: splits × the tiles of C; with splits > 1, C is the workspace: slices of M × N, split_stride
// apart (a multiple of 4, so that every slice is as aligned as the first).
template <int BM, int BN, int BK, int TM, int TN, int MIN_BLOCKS>
void launch(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
            const float* B, int ldb, float beta, float* C, int ldc, int splits, int k_chunk,
            int64_t split_stride, cudaStream_t stream) {
  const int64_t tiles = ((int64_t)M + BM - 1) / BM * (((int64_t)N + BN - 1) / BN);
  LRCN_CHECK(tiles <= INT32_MAX, "gemm_gpu: C has more tiles than one grid can hold");
  auto kernel = trans_a ? (trans_b ? gemm_kernel<BM, BN, BK, TM, TN, MIN_BLOCKS, true, true>
                                   : gemm_kernel<BM, BN, BK, TM, TN, MIN_BLOCKS, true, false>)
                        : (trans_b ? gemm_kernel<BM, BN, BK, TM, TN, MIN_BLOCKS, false, true>
                                   : gemm_kernel<BM, BN, BK, TM, TN, MIN_BLOCKS, false, false>);
  kernel<<<dim3((unsigned)tiles, splits), (BM / TM) * (BN / TN), 0, stream>>>(
      M, N, K, alpha, A, lda, vectorizable(A, lda), B, ldb, vectorizable(B, ldb), beta, C, ldc,
      vectorizable(C, ldc), k_chunk, split_stride);
}
}  // namespace

// Tile table (gemm_plan): the biggest tile that still gives every SM a block; the smallest otherwise,
// split along K when even that leaves SMs idle.
//   128×128×8, 8×8 per thread, 256 threads, 2 blocks/SM (128 registers): big GEMMs.
//   64×64×8,   8×8 per thread,  64 threads: e.g. 1024³ (64 big tiles), fc6 384×4096×9216.
//   32×32×16,  4×4 per thread,  64 threads: skinny GEMMs, e.g. the LSTM's 24×1024×256 step.
void gemm_gpu(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc, cudaStream_t stream) {
  if (M <= 0 || N <= 0) return;
  const GemmPlan plan = gemm_plan(M, N, K, sm_count(), alpha == 0.f);
  if (plan.tile == 128)
    launch<128, 128, 8, 8, 8, 2>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 1, K, 0, stream);
  else if (plan.tile == 64)
    launch<64, 64, 8, 8, 8, 1>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 1, K, 0, stream);
  else if (plan.splits == 1)
    launch<32, 32, 16, 4, 4, 1>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 1, K, 0, stream);
  else {
    const int64_t stride = ((int64_t)M * N + 3) / 4 * 4;
    float* part = gemm_workspace(plan.splits * stride, stream);
    launch<32, 32, 16, 4, 4, 1>(trans_a, trans_b, M, N, K, 1.f, A, lda, B, ldb, 0.f, part, N, plan.splits,
                                plan.chunk, stride, stream);
    LRCN_CUDA_LAUNCH_CHECK();
    split_sum_kernel<<<blocks_for((int64_t)M * N), kThreads, 0, stream>>>(C, ldc, part, stride, M, N, plan.splits,
                                                                          alpha, beta);
  }
}
}  // namespace lrcn
