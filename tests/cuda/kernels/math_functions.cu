// Device math library against the host's, with per-function tolerances
// (in ulps for CUDA's documented maximum errors, with a little slack).
#include "check.h"
#include <math.h>
#include <string.h>
#include <vector>

enum { F_SIN, F_COS, F_EXP, F_LOG, F_SQRT, F_RSQRT, F_FMA, F_POW, F_ATAN2, F_TANH, F_FLOOR, F_DIV, NF };
static const char *fnames[NF] = {"sinf", "cosf", "expf",   "logf",  "sqrtf",  "rsqrtf",
                                 "fmaf", "powf", "atan2f", "tanhf", "floorf", "div"};
static const double fulps[NF] = {3, 3, 3, 2, 0.5, 3, 0.5, 9, 4, 3, 0, 0.5};

enum { D_SIN, D_EXP, D_LOG, D_SQRT, D_FMA, D_POW, D_CBRT, D_ERF, ND };
static const char *dnames[ND] = {"sin", "exp", "log", "sqrt", "fma", "pow", "cbrt", "erf"};
static const double dulps[ND] = {3, 2, 2, 0.5, 0.5, 3, 2, 3};

__global__ void fmath(const float *x, const float *y, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  float a = x[i], b = y[i];
  float *o = out + (size_t)i * NF;
  o[F_SIN] = sinf(a);
  o[F_COS] = cosf(a);
  o[F_EXP] = expf(a * 0.1f);
  o[F_LOG] = logf(fabsf(a) + 1.0f);
  o[F_SQRT] = sqrtf(fabsf(a));
  o[F_RSQRT] = rsqrtf(fabsf(a) + 0.5f);
  o[F_FMA] = fmaf(a, b, 0.25f);
  o[F_POW] = powf(fabsf(b) + 0.5f, 1.7f);
  o[F_ATAN2] = atan2f(a, b);
  o[F_TANH] = tanhf(a * 0.05f);
  o[F_FLOOR] = floorf(a * 1.3f);
  o[F_DIV] = a / (b + 100.0f); // IEEE division without fast-math
}

__global__ void dmath(const double *x, const double *y, double *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  double a = x[i], b = y[i];
  double *o = out + (size_t)i * ND;
  o[D_SIN] = sin(a);
  o[D_EXP] = exp(a * 0.1);
  o[D_LOG] = log(fabs(a) + 1.0);
  o[D_SQRT] = sqrt(fabs(a));
  o[D_FMA] = fma(a, b, 0.25);
  o[D_POW] = pow(fabs(b) + 0.5, 1.7);
  o[D_CBRT] = cbrt(a);
  o[D_ERF] = erf(a * 0.05);
}

static double ulp_f(float ref) {
  float r = fabsf(ref);
  if (r < 1.17549435e-38f)
    return 1.4e-45;
  return (double)nextafterf(r, INFINITY) - r;
}
static double ulp_d(double ref) {
  double r = fabs(ref);
  if (r < 2.2250738585072014e-308)
    return 4.9e-324;
  return nextafter(r, INFINITY) - r;
}

int main() {
  const int n = 4096;
  std::vector<float> x(n), y(n), out((size_t)n * NF);
  std::vector<double> xd(n), yd(n), outd((size_t)n * ND);
  for (int i = 0; i < n; ++i) {
    x[i] = (float)(i - n / 2) * 0.0371f; // about -76 .. 76
    y[i] = (float)((i * 37) % 1000) * 0.013f - 6.5f;
    xd[i] = (double)(i - n / 2) * 0.0371;
    yd[i] = (double)((i * 37) % 1000) * 0.013 - 6.5;
  }
  float *dx, *dy, *dout;
  double *dxd, *dyd, *doutd;
  CHECK(cudaMalloc(&dx, n * sizeof(float)));
  CHECK(cudaMalloc(&dy, n * sizeof(float)));
  CHECK(cudaMalloc(&dout, out.size() * sizeof(float)));
  CHECK(cudaMalloc(&dxd, n * sizeof(double)));
  CHECK(cudaMalloc(&dyd, n * sizeof(double)));
  CHECK(cudaMalloc(&doutd, outd.size() * sizeof(double)));
  CHECK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dxd, xd.data(), n * sizeof(double), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dyd, yd.data(), n * sizeof(double), cudaMemcpyHostToDevice));
  fmath<<<n / 128, 128>>>(dx, dy, dout, n);
  CHECK_LAUNCH();
  dmath<<<n / 128, 128>>>(dxd, dyd, doutd, n);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out.data(), dout, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(outd.data(), doutd, outd.size() * sizeof(double), cudaMemcpyDeviceToHost));

  for (int i = 0; i < n; ++i) {
    // References in double (float functions) / long double (double functions).
    double a = x[i], b = y[i];
    double ref[NF];
    ref[F_SIN] = sin(a);
    ref[F_COS] = cos(a);
    ref[F_EXP] = exp((double)(x[i] * 0.1f));
    ref[F_LOG] = log((double)(fabsf(x[i]) + 1.0f));
    ref[F_SQRT] = sqrt(fabs(a));
    ref[F_RSQRT] = 1.0 / sqrt((double)(fabsf(x[i]) + 0.5f));
    ref[F_FMA] = (double)fmaf(x[i], y[i], 0.25f);
    ref[F_POW] = pow((double)(fabsf(y[i]) + 0.5f), (double)1.7f);
    ref[F_ATAN2] = atan2(a, b);
    ref[F_TANH] = tanh((double)(x[i] * 0.05f));
    ref[F_FLOOR] = floor((double)(x[i] * 1.3f));
    ref[F_DIV] = (double)(x[i] / (y[i] + 100.0f));
    for (int f = 0; f < NF; ++f) {
      double got = out[(size_t)i * NF + f];
      double err = fabs(got - ref[f]) / ulp_f((float)ref[f]);
      EXPECT(err <= fulps[f] + 0.5, "%s at x=%.9g y=%.9g: got %.9g, want %.9g (%.1f ulp, allowed %.1f)",
             fnames[f], x[i], y[i], got, ref[f], err, fulps[f]);
    }
    long double ad = xd[i], bd = yd[i];
    long double refd[ND];
    refd[D_SIN] = sinl(ad);
    refd[D_EXP] = expl((long double)(xd[i] * 0.1));
    refd[D_LOG] = logl((long double)(fabs(xd[i]) + 1.0));
    refd[D_SQRT] = sqrtl(fabsl(ad));
    refd[D_FMA] = fma(xd[i], yd[i], 0.25);
    refd[D_POW] = powl((long double)(fabs(yd[i]) + 0.5), 1.7L);
    refd[D_CBRT] = cbrtl(ad);
    refd[D_ERF] = erfl((long double)(xd[i] * 0.05));
    (void)bd;
    for (int f = 0; f < ND; ++f) {
      double got = outd[(size_t)i * ND + f];
      double err = (double)(fabsl((long double)got - refd[f]) / ulp_d((double)refd[f]));
      EXPECT(err <= dulps[f] + 0.5, "%s at x=%.17g y=%.17g: got %.17g, want %.17Lg (%.1f ulp, allowed %.1f)",
             dnames[f], xd[i], yd[i], got, refd[f], err, dulps[f]);
    }
  }
  CHECK(cudaFree(dx));
  CHECK(cudaFree(dy));
  CHECK(cudaFree(dout));
  CHECK(cudaFree(dxd));
  CHECK(cudaFree(dyd));
  CHECK(cudaFree(doutd));
  PASSED("math_functions");
  return 0;
}
