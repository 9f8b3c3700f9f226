// Structs passed by value as kernel parameters, including 16-byte-aligned
// members, nested structs, arrays and mixed sizes (parameter layout/padding).
#include "check.h"
#include <stddef.h>

struct __align__(16) Vec4 {
  float x, y, z, w;
};

struct Params {
  char tag; // offset 0, then padding
  Vec4 v;   // 16-byte aligned
  double scale;
  int ints[3];
  short s;
  alignas(16) long long big;
  float2 f2;
  unsigned char tail[5];
};
static_assert(alignof(Params) == 16, "Params alignment");
static_assert(offsetof(Params, v) == 16, "Vec4 offset");

struct Out {
  float v[4];
  double scale;
  int ints[3];
  int s, tag;
  long long big;
  float f2[2];
  int tail[5];
  int offsets[2];
};

__global__ void unpack(Params p, Vec4 extra, char c, Out *o) {
  o->v[0] = p.v.x + extra.x;
  o->v[1] = p.v.y + extra.y;
  o->v[2] = p.v.z + extra.z;
  o->v[3] = p.v.w + extra.w;
  o->scale = p.scale;
  for (int i = 0; i < 3; ++i)
    o->ints[i] = p.ints[i];
  o->s = p.s;
  o->tag = p.tag + c;
  o->big = p.big;
  o->f2[0] = p.f2.x;
  o->f2[1] = p.f2.y;
  for (int i = 0; i < 5; ++i)
    o->tail[i] = p.tail[i];
  o->offsets[0] = (int)((const char *)&p.v - (const char *)&p);
  o->offsets[1] = (int)((const char *)&p.big - (const char *)&p);
}

int main() {
  Params p = {};
  p.tag = 'A';
  p.v = {1.5f, -2.5f, 3.25f, 1e20f};
  p.scale = 3.141592653589793;
  p.ints[0] = -1;
  p.ints[1] = 0x7fffffff;
  p.ints[2] = 42;
  p.s = -1234;
  p.big = 0x123456789abcdefLL;
  p.f2 = make_float2(0.125f, -8.0f);
  for (int i = 0; i < 5; ++i)
    p.tail[i] = (unsigned char)(250 + i);
  Vec4 extra = {10, 20, 30, 40};
  Out *d;
  CHECK(cudaMalloc(&d, sizeof(Out)));
  CHECK(cudaMemset(d, 0, sizeof(Out)));
  unpack<<<1, 1>>>(p, extra, (char)2, d);
  CHECK_LAUNCH();
  Out o;
  CHECK(cudaMemcpy(&o, d, sizeof o, cudaMemcpyDeviceToHost));
  EXPECT(o.v[0] == 11.5f && o.v[1] == 17.5f && o.v[2] == 33.25f && o.v[3] == 1e20f + 40, "v = %g %g %g %g",
         o.v[0], o.v[1], o.v[2], o.v[3]);
  EXPECT(o.scale == p.scale, "scale %.17g", o.scale);
  EXPECT(o.ints[0] == -1 && o.ints[1] == 0x7fffffff && o.ints[2] == 42, "ints %d %d %d", o.ints[0], o.ints[1],
         o.ints[2]);
  EXPECT(o.s == -1234, "s %d", o.s);
  EXPECT(o.tag == 'A' + 2, "tag %d", o.tag);
  EXPECT(o.big == 0x123456789abcdefLL, "big %llx", o.big);
  EXPECT(o.f2[0] == 0.125f && o.f2[1] == -8.0f, "f2 %g %g", o.f2[0], o.f2[1]);
  for (int i = 0; i < 5; ++i)
    EXPECT(o.tail[i] == 250 + i, "tail[%d] = %d", i, o.tail[i]);
  EXPECT(o.offsets[0] == 16 && o.offsets[1] == (int)offsetof(Params, big), "device offsets %d %d",
         o.offsets[0], o.offsets[1]);
  CHECK(cudaFree(d));
  PASSED("struct_by_value");
  return 0;
}
