// The step loops of the fused Graves LSTM (seqnet/nn/graves/kernel.py) in C++.
//
// The same ATen calls, in the same order, as the Python loops they replace
// (GravesLSTMFunction.forward and _backward_steps), so the numbers are bit for bit the
// same; what goes away is the Python interpreter's dispatch of a dozen small ops per step.
// Layouts (time-major, internal gate order [f | i | 2a | o], NOTE [ Internal gate order ]):
//   gates   [T, N, 4H]   the projected inputs; the forward turns them into f, i, a, o
//   hs      [T+1, N, H]  h; row 0 holds h0         c_raw [T+1, N, H]  c before masking
//   cs      [T+1, N, H]  c after masking (c_raw itself when unmasked); row 0 holds c0
//   tanh_c  [T, N, H]    tanh(c_raw[t+1])
//   peep    [3, H]       forget, input, output peepholes
//   mask    [T, N, 1]    or undefined;  sizes: real rows per step, or empty (no skipping)
// The recurrent product h @ RW is oneDNN's linear on a packed weight when `packed` is
// given (NOTE [ Packed weights for the recurrent product ]), else at::mm on `dense`.
// Registered as torch.ops.seqnet_graves.*; built at first use by seqnet/nn/graves/compiled.py.

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <optional>
#include <utility>
#include <vector>

namespace {

using at::Tensor;

using LinearSignature = Tensor(const Tensor&, const Tensor&, const std::optional<Tensor>&,
                               c10::string_view, c10::List<std::optional<c10::Scalar>>,
                               std::optional<c10::string_view>);

// oneDNN's linear on a packed weight (torch.ops.mkldnn._linear_pointwise), looked up once.
const c10::TypedOperatorHandle<LinearSignature>& packed_linear() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
                             .typed<LinearSignature>();
  return op;
}

// x @ RW for one step.
class StepProduct {
 public:
  StepProduct(const std::optional<Tensor>& packed, const Tensor& dense)
      : packed_(packed), dense_(dense) {}

  Tensor operator()(const Tensor& x) const {
    if (packed_.has_value()) {
      return packed_linear().call(x, *packed_, std::nullopt, "none",
                                  c10::List<std::optional<c10::Scalar>>(), "");
    }
    return at::mm(x, dense_);
  }

 private:
  std::optional<Tensor> packed_;
  Tensor dense_;
};

// The real rows of a step and the others (padding.real_rows).
std::pair<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>> real_rows(
    int64_t real, int64_t n, bool from_end) {
  if (from_end) return {{n - real, real}, {0, n - real}};
  return {{0, real}, {real, n - real}};
}

// tanh(src) into out as 2 sigmoid(2 src) - 1 (NOTE [ tanh on CPU ], cpu.tanh_sigmoid).
void tanh_sigmoid(const Tensor& src, Tensor& out, const Tensor& minus_one) {
  at::mul_out(out, src, 2.0).sigmoid_();
  at::add_out(out, minus_one, out, 2.0);
}

void forward_steps(Tensor gates, Tensor hs, Tensor c_raw, Tensor cs, Tensor tanh_c,
                   const Tensor& peep, const std::optional<Tensor>& packed, const Tensor& dense,
                   const std::optional<Tensor>& mask, at::IntArrayRef sizes, bool from_end) {
  at::AutoDispatchBelowADInplaceOrView guard;
  const int64_t steps = gates.size(0), n = gates.size(1), hid = gates.size(2) / 4;
  const StepProduct step_mm(packed, dense);
  const Tensor p_fi = peep.narrow(0, 0, 2), p_o = peep.select(0, 2);
  const Tensor minus_one = at::full({}, -1.0, gates.options());
  const bool skipping = !sizes.empty();
  for (int64_t t = 0; t < steps; ++t) {
    Tensor h = hs.select(0, t), c = cs.select(0, t), z = gates.select(0, t);
    Tensor tc = tanh_c.select(0, t), cn = c_raw.select(0, t + 1), h_new = hs.select(0, t + 1);
    if (skipping && sizes[t] < n) {
      auto rows = real_rows(sizes[t], n, from_end);
      z.narrow(0, rows.second.first, rows.second.second).zero_();
      const int64_t start = rows.first.first, length = rows.first.second;
      h = h.narrow(0, start, length);
      c = c.narrow(0, start, length);
      z = z.narrow(0, start, length);
      tc = tc.narrow(0, start, length);
      cn = cn.narrow(0, start, length);
      h_new = h_new.narrow(0, start, length);
    }
    const int64_t rows = z.size(0);
    Tensor f = z.narrow(1, 0, hid), i = z.narrow(1, hid, hid);
    Tensor a = z.narrow(1, 2 * hid, hid), o = z.narrow(1, 3 * hid, hid);
    z.add_(step_mm(h));
    z.narrow(1, 0, 2 * hid).view({rows, 2, hid}).addcmul_(c.unsqueeze(1), p_fi);
    z.narrow(1, 0, 3 * hid).sigmoid_();
    at::add_out(a, minus_one, a, 2.0);               // tanh of the block input: 2 s - 1
    at::mul_out(cn, f, c).addcmul_(i, a);
    o.addcmul_(cn, p_o).sigmoid_();
    tanh_sigmoid(cn, tc, minus_one);
    at::mul_out(h_new, o, tc);
    if (mask.has_value()) {
      const Tensor m = mask->select(0, t);
      h_new.mul_(m);
      Tensor c_out = cs.select(0, t + 1);
      at::mul_out(c_out, cn, m);
    }
  }
}

std::tuple<Tensor, Tensor> backward_steps(
    Tensor factors, const Tensor& dc_dh, const Tensor& dc_dc, const Tensor& d_hs,
    const std::optional<Tensor>& mask, at::IntArrayRef sizes, bool from_end,
    const std::optional<Tensor>& packed, const Tensor& dense, Tensor dh, Tensor dc) {
  at::AutoDispatchBelowADInplaceOrView guard;
  const int64_t steps = factors.size(0), n = factors.size(1), hid = factors.size(2) / 4;
  const StepProduct step_mm(packed, dense);
  const bool skipping = !sizes.empty();
  for (int64_t t = steps - 1; t >= 0; --t) {
    dh.add_(d_hs.select(0, t));
    if (mask.has_value()) {
      const Tensor m = mask->select(0, t);
      dh.mul_(m);
      dc.mul_(m);
    }
    const Tensor dz = factors.select(0, t);
    Tensor dh_b = dh, dc_b = dc, dcdh = dc_dh.select(0, t), dcdc = dc_dc.select(0, t);
    Tensor dzo = dz.narrow(1, 3 * hid, hid), dzfia = dz.narrow(1, 0, 3 * hid);
    if (skipping && sizes[t] < n) {
      auto rows = real_rows(sizes[t], n, from_end);
      dc.narrow(0, rows.second.first, rows.second.second).zero_();
      const int64_t start = rows.first.first, length = rows.first.second;
      dh_b = dh_b.narrow(0, start, length);
      dc_b = dc_b.narrow(0, start, length);
      dcdh = dcdh.narrow(0, start, length);
      dcdc = dcdc.narrow(0, start, length);
      dzo = dzo.narrow(0, start, length);
      dzfia = dzfia.narrow(0, start, length);
    }
    const int64_t rows = dzfia.size(0);
    dzo.mul_(dh_b);
    dc_b.addcmul_(dh_b, dcdh);
    dzfia.view({rows, 3, hid}).mul_(dc_b.unsqueeze(1));
    dc_b.mul_(dcdc);
    dh = step_mm(dz);
  }
  return {dh, dc};
}

// One step for time-stepping (no autograd): the projection, then forward_steps' calls for
// one step without its buffers, so a step gives exactly what the fused forward gives for it.
std::tuple<Tensor, Tensor> time_step(const Tensor& x, const Tensor& w, const Tensor& b,
                                     const Tensor& rw, const Tensor& peep, const Tensor& h0,
                                     const Tensor& c0) {
  at::AutoDispatchBelowADInplaceOrView guard;
  const int64_t n = x.size(0), hid = rw.size(0);
  const Tensor minus_one = at::full({}, -1.0, x.options());
  Tensor z = at::addmm(b, x, w);
  z.add_(at::mm(h0, rw));
  z.narrow(1, 0, 2 * hid).view({n, 2, hid}).addcmul_(c0.unsqueeze(1), peep.narrow(0, 0, 2));
  z.narrow(1, 0, 3 * hid).sigmoid_();
  Tensor a = z.narrow(1, 2 * hid, hid), o = z.narrow(1, 3 * hid, hid);
  at::add_out(a, minus_one, a, 2.0);
  Tensor c = at::mul(z.narrow(1, 0, hid), c0);
  c.addcmul_(z.narrow(1, hid, hid), a);
  o.addcmul_(c, peep.select(0, 2)).sigmoid_();
  Tensor tc = at::empty_like(c);
  tanh_sigmoid(c, tc, minus_one);
  return {at::mul(o, tc), c};
}

}  // namespace

TORCH_LIBRARY(seqnet_graves, m) {
  // One kernel for every dispatch key (the packed weight is a oneDNN tensor, the others
  // dense CPU tensors); the loops call ATen below autograd themselves.
  m.def("forward_steps(Tensor(a!) gates, Tensor(b!) hs, Tensor(c!) c_raw, Tensor(d!) cs, "
        "Tensor(e!) tanh_c, Tensor peep, Tensor? packed, Tensor dense, Tensor? mask, "
        "int[] sizes, bool from_end) -> ()",
        &forward_steps);
  m.def("backward_steps(Tensor(a!) factors, Tensor dc_dh, Tensor dc_dc, Tensor d_hs, "
        "Tensor? mask, int[] sizes, bool from_end, Tensor? packed, Tensor dense, Tensor dh, "
        "Tensor(b!) dc) -> (Tensor, Tensor)",
        &backward_steps);
  m.def("time_step(Tensor x, Tensor w, Tensor b, Tensor rw, Tensor peep, Tensor h0, "
        "Tensor c0) -> (Tensor, Tensor)",
        &time_step);
}
