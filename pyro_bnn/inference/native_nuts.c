/* The NUTS transition of a BayesianMLP in C: log joint, gradient and trajectory.

   Compiled on the user's machine by native.py (the system C compiler, -O3
   -march=native) with REAL = float or double, and called once per NUTS transition
   through ctypes. The algorithm is the one of nuts.py (Stan's base_nuts: multinomial
   NUTS, biased progressive sampling at the top, the generalized no-U-turn criterion
   with the extra checks across merged halves, divergence at an energy error of
   1000); the log joint is the one of analytic.py (packed layout: per layer, row j of
   [W | b], then log sigma if learned). The log density, the energies and the U-turn
   products are summed in double, the gradient's sums over data points in the chain's
   precision (with partial sums, as a SIMD dot product).

   Nothing here allocates per leapfrog step: a model owns its activation buffers and a
   workspace of vectors per tree depth (a transition allocates its own few vectors once). A model must not be used from two threads at
   once. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef REAL
#define REAL float
#endif
typedef REAL real;

enum { ACT_TANH = 0, ACT_RELU = 1 };
enum {
    LIK_GAUSSIAN_FIXED = 0,
    LIK_GAUSSIAN_LEARNED = 1,
    LIK_BERNOULLI = 2,
    LIK_POISSON = 3,
    LIK_CATEGORICAL = 4,     /* K logits; y one-hot (K, n) */
    LIK_HETEROSCEDASTIC = 5, /* outputs (mean, raw scale): scale = softplus(raw) + min_scale */
};

#define HALF_LOG_2PI 0.91893853320467274178
#define MAX_ENERGY_ERROR 1000.0
#define NUM_VECTORS_PER_DEPTH 12

typedef struct {
    int n, num_layers, dim, num_weights, activation, likelihood;
    int *sizes;          /* num_layers + 1: in, hidden..., out */
    int *offsets;        /* num_layers: start of layer l's packed [W | b] */
    real **inputs;       /* num_layers: layer l's input (sizes[l], n); inputs[0] = x */
    real **deltas;       /* num_layers: d log p / d pre-activations (sizes[l+1], n) */
    real *output;        /* (outputs, n) network output */
    real *y;             /* (n,), or one-hot (K, n) for a Categorical */
    real *prior_loc, *prior_neg_precision; /* (num_weights,) */
    int prior_centred;
    double prior_const, fixed_sigma, sigma_prior_var, sigma_prior_const, likelihood_const;
    double min_scale; /* heteroscedastic Gaussian */
    /* NUTS workspace: NUM_VECTORS_PER_DEPTH vectors of dim per tree depth, + scratch */
    int workspace_depth;
    real *workspace;
    uint64_t rng;
} Model;

/* ------------------------------------------------------------------ activations */

#if defined(REAL_IS_FLOAT)
/* tanh for float: Eigen's rational approximation (clamped at +-7.9, exact below 4e-4),
   a few ulp from tanh and vectorizable, unlike a call to tanhf per value */
static inline real tanh_real(real x) {
    const real clamp = 7.90531110763549805f;
    real a = x > clamp ? clamp : (x < -clamp ? -clamp : x);
    real x2 = a * a;
    real p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * a;
    real q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    real t = p / q;
    return fabsf(x) < 0.0004f ? x : t;
}
#else
static inline real tanh_real(real x) { return tanh(x); }
#endif

/* ------------------------------------------------------------------ log joint */

static double dot_n(const real *a, const real *b, int n) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* in the chain's precision, as numpy's float32 dot (a lane per SIMD slot: well
   conditioned for the gradient's sums over data points) */
#define LANES 16 /* partial sums: one SIMD register of floats, reduced as a tree */

static real dot_r(const real *a, const real *b, int n) {
    real acc[LANES] = {0}, tail = 0;
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += a[i + l] * b[i + l];
    for (; i < n; i++) tail += a[i] * b[i];
    for (int width = LANES / 2; width > 0; width /= 2)
        for (int l = 0; l < width; l++) acc[l] += acc[l + width];
    return acc[0] + tail;
}

static real sum_r(const real *a, int n) {
    real acc[LANES] = {0}, tail = 0;
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += a[i + l];
    for (; i < n; i++) tail += a[i];
    for (int width = LANES / 2; width > 0; width /= 2)
        for (int l = 0; l < width; l++) acc[l] += acc[l + width];
    return acc[0] + tail;
}

/* log joint at packed z, gradient into grad; -inf when the noise under/overflows */
double bnn_value_and_grad(Model *m, const real *z, real *grad) {
    const int n = m->n, L = m->num_layers;
    /* forward */
    for (int l = 0; l < L; l++) {
        const int fan_in = m->sizes[l], fan_out = m->sizes[l + 1];
        const real *W = z + m->offsets[l];
        const real *in = m->inputs[l];
        real *out = l + 1 < L ? m->inputs[l + 1] : m->output;
        for (int j = 0; j < fan_out; j++) {
            const real *row = W + (size_t)j * (fan_in + 1);
            real *o = out + (size_t)j * n;
            const real bias = row[fan_in], w0 = row[0];
            const real *a0 = in;
#pragma omp simd
            for (int i = 0; i < n; i++) o[i] = bias + w0 * a0[i];
            for (int k = 1; k < fan_in; k++) {
                const real w = row[k];
                const real *a = in + (size_t)k * n;
#pragma omp simd
                for (int i = 0; i < n; i++) o[i] += w * a[i];
            }
        }
        if (l + 1 < L) { /* the activation over the whole (fan_out, n) block, one loop */
            const size_t size = (size_t)fan_out * n;
            if (m->activation == ACT_TANH) {
#pragma omp simd
                for (size_t i = 0; i < size; i++) out[i] = tanh_real(out[i]);
            } else {
#pragma omp simd
                for (size_t i = 0; i < size; i++) out[i] = out[i] > 0 ? out[i] : 0;
            }
        }
    }
    /* likelihood and its gradient in the output pre-activations */
    real *out = m->output, *delta = m->deltas[L - 1], *y = m->y;
    double value;
    if (m->likelihood == LIK_GAUSSIAN_FIXED || m->likelihood == LIK_GAUSSIAN_LEARNED) {
        for (int i = 0; i < n; i++) delta[i] = y[i] - out[i];
        const double squared = dot_n(delta, delta, n);
        double sigma2;
        if (m->likelihood == LIK_GAUSSIAN_LEARNED) {
            const double log_sigma = z[m->dim - 1];
            sigma2 = exp(fmin(2.0 * log_sigma, 700.0));
            if (!(sigma2 > 1e-30 && sigma2 < 1e30)) {
                memset(grad, 0, sizeof(real) * m->dim);
                return -INFINITY;
            }
            value = -0.5 * squared / sigma2 - n * log_sigma - n * HALF_LOG_2PI;
            value += m->sigma_prior_const - 0.5 * sigma2 / m->sigma_prior_var + log_sigma;
            grad[m->dim - 1] = (real)(squared / sigma2 - n - sigma2 / m->sigma_prior_var + 1.0);
        } else {
            sigma2 = m->fixed_sigma * m->fixed_sigma;
            value = -0.5 * squared / sigma2 - n * (log(m->fixed_sigma) + HALF_LOG_2PI);
        }
        const real inverse = (real)(1.0 / sigma2);
        for (int i = 0; i < n; i++) delta[i] *= inverse;
    } else if (m->likelihood == LIK_BERNOULLI) { /* sum y l - softplus(l); y - sigmoid(l) */
        value = 0.0;
        for (int i = 0; i < n; i++) {
            const double l = out[i];
            value += y[i] * l - (fmax(l, 0.0) + log1p(exp(-fabs(l))));
            delta[i] = (real)(y[i] - 0.5 - 0.5 * tanh(0.5 * l));
        }
    } else if (m->likelihood == LIK_POISSON) { /* sum y l - exp(l) - log y!; y - exp(l) */
        value = m->likelihood_const;
        for (int i = 0; i < n; i++) {
            const double rate = exp((double)out[i]);
            value += y[i] * (double)out[i] - rate;
            delta[i] = (real)(y[i] - rate);
        }
    } else if (m->likelihood == LIK_CATEGORICAL) { /* sum l[y] - logsumexp(l); y - softmax */
        const int K = m->sizes[L];
        value = 0.0;
        for (int i = 0; i < n; i++) {
            double top = out[i], total = 0.0;
            for (int k = 1; k < K; k++) top = fmax(top, (double)out[(size_t)k * n + i]);
            for (int k = 0; k < K; k++) total += exp(out[(size_t)k * n + i] - top);
            value -= top + log(total);
            for (int k = 0; k < K; k++) {
                const size_t at = (size_t)k * n + i;
                value += (double)y[at] * out[at];
                delta[at] = (real)(y[at] - exp(out[at] - top) / total);
            }
        }
    } else { /* heteroscedastic: z = (y - mean) / s, s = softplus(r) + min_scale;
                sum -z^2/2 - log s - log(2 pi)/2; deltas z / s and (z^2 - 1) / s * sigmoid(r) */
        value = -n * HALF_LOG_2PI;
        real *delta_raw = delta + n;
        for (int i = 0; i < n; i++) {
            const double raw = out[n + i];
            const double scale = fmax(raw, 0.0) + log1p(exp(-fabs(raw))) + m->min_scale;
            const double z = (y[i] - (double)out[i]) / scale;
            value += -0.5 * z * z - log(scale);
            delta[i] = (real)(z / scale);
            delta_raw[i] = (real)((z * z - 1.0) / scale * (0.5 + 0.5 * tanh(0.5 * raw)));
        }
    }
    /* backward */
    for (int l = L - 1; l >= 0; l--) {
        const int fan_in = m->sizes[l], fan_out = m->sizes[l + 1];
        const real *W = z + m->offsets[l];
        real *gW = grad + m->offsets[l];
        const real *in = m->inputs[l];
        real *d = m->deltas[l];
        for (int j = 0; j < fan_out; j++) {
            const real *dj = d + (size_t)j * n;
            real *grow = gW + (size_t)j * (fan_in + 1);
            for (int k = 0; k < fan_in; k++) grow[k] = dot_r(dj, in + (size_t)k * n, n);
            grow[fan_in] = sum_r(dj, n);
        }
        if (l == 0) break;
        real *below = m->deltas[l - 1]; /* (fan_in, n) = W[:, :fan_in]^T d, times act' */
        for (int k = 0; k < fan_in; k++) {
            real *bk = below + (size_t)k * n;
            const real w0 = W[k];
#pragma omp simd
            for (int i = 0; i < n; i++) bk[i] = w0 * d[i];
            for (int j = 1; j < fan_out; j++) {
                const real w = W[(size_t)j * (fan_in + 1) + k];
                const real *dj = d + (size_t)j * n;
#pragma omp simd
                for (int i = 0; i < n; i++) bk[i] += w * dj[i];
            }
        }
        const size_t size = (size_t)fan_in * n; /* times act' over the whole block */
        if (m->activation == ACT_TANH) {
#pragma omp simd
            for (size_t i = 0; i < size; i++) below[i] *= 1 - in[i] * in[i];
        } else {
#pragma omp simd
            for (size_t i = 0; i < size; i++) below[i] = in[i] > 0 ? below[i] : 0;
        }
    }
    /* Normal prior of every weight and bias */
    double prior = 0.0;
    const int nw = m->num_weights;
    const real *loc = m->prior_loc, *negprec = m->prior_neg_precision;
    if (m->prior_centred) {
#pragma omp simd reduction(+ : prior)
        for (int i = 0; i < nw; i++) {
            const real w = z[i] - loc[i], g = w * negprec[i];
            grad[i] += g;
            prior += (double)w * g;
        }
    } else {
#pragma omp simd reduction(+ : prior)
        for (int i = 0; i < nw; i++) {
            const real g = z[i] * negprec[i];
            grad[i] += g;
            prior += (double)z[i] * g;
        }
    }
    value += 0.5 * prior + m->prior_const;
    return value;
}

/* ------------------------------------------------------------------ model */

static void *zeroed(size_t count, size_t size) { return calloc(count ? count : 1, size); }

void bnn_free(Model *m) {
    if (!m) return;
    if (m->inputs)
        for (int l = 0; l < m->num_layers; l++) free(m->inputs[l]);
    if (m->deltas)
        for (int l = 0; l < m->num_layers; l++) free(m->deltas[l]);
    free(m->inputs);
    free(m->deltas);
    free(m->sizes);
    free(m->offsets);
    free(m->output);
    free(m->y);
    free(m->prior_loc);
    free(m->prior_neg_precision);
    free(m->workspace);
    free(m);
}

/* x: (sizes[0], n) row-major, y: (n,) or one-hot (K, n), prior arrays: (num_weights,) in
   the packed layout; doubles: prior_const, fixed_sigma, sigma_prior_var,
   sigma_prior_const, likelihood_const, min_scale */
Model *bnn_create(int n, int num_layers, const int *sizes, int activation, int likelihood,
                  const real *x, const real *y, const real *prior_loc,
                  const real *prior_neg_precision, const double *constants) {
    Model *m = zeroed(1, sizeof(Model));
    if (!m) return NULL;
    m->n = n;
    m->num_layers = num_layers;
    m->activation = activation;
    m->likelihood = likelihood;
    m->sizes = zeroed(num_layers + 1, sizeof(int));
    m->offsets = zeroed(num_layers, sizeof(int));
    m->inputs = zeroed(num_layers, sizeof(real *));
    m->deltas = zeroed(num_layers, sizeof(real *));
    const size_t y_size = (size_t)n * (likelihood == LIK_CATEGORICAL ? sizes[num_layers] : 1);
    m->output = zeroed((size_t)sizes[num_layers] * n, sizeof(real));
    m->y = zeroed(y_size, sizeof(real));
    if (!m->sizes || !m->offsets || !m->inputs || !m->deltas || !m->output || !m->y) goto fail;
    memcpy(m->sizes, sizes, sizeof(int) * (num_layers + 1));
    int offset = 0;
    for (int l = 0; l < num_layers; l++) {
        m->offsets[l] = offset;
        offset += (sizes[l] + 1) * sizes[l + 1];
        m->inputs[l] = zeroed((size_t)sizes[l] * n, sizeof(real));
        m->deltas[l] = zeroed((size_t)sizes[l + 1] * n, sizeof(real));
        if (!m->inputs[l] || !m->deltas[l]) goto fail;
    }
    m->num_weights = offset;
    m->dim = offset + (likelihood == LIK_GAUSSIAN_LEARNED);
    memcpy(m->inputs[0], x, sizeof(real) * sizes[0] * n);
    memcpy(m->y, y, sizeof(real) * y_size);
    m->prior_loc = zeroed(offset, sizeof(real));
    m->prior_neg_precision = zeroed(offset, sizeof(real));
    if (!m->prior_loc || !m->prior_neg_precision) goto fail;
    memcpy(m->prior_loc, prior_loc, sizeof(real) * offset);
    memcpy(m->prior_neg_precision, prior_neg_precision, sizeof(real) * offset);
    for (int i = 0; i < offset; i++) m->prior_centred |= prior_loc[i] != 0;
    m->prior_const = constants[0];
    m->fixed_sigma = constants[1];
    m->sigma_prior_var = constants[2];
    m->sigma_prior_const = constants[3];
    m->likelihood_const = constants[4];
    m->min_scale = constants[5];
    return m;
fail:
    bnn_free(m);
    return NULL;
}

int bnn_dim(const Model *m) { return m->dim; }

/* ------------------------------------------------------------------ NUTS */

typedef struct { /* a point of the trajectory */
    real *z, *r, *grad;
    double log_density;
} Point;

typedef struct {
    Model *m;
    int dim;
    double step;          /* signed */
    double energy0;       /* H at the start of the transition */
    const real *imm;      /* diagonal inverse mass matrix */
    Point current;        /* the running end of the trajectory (mutated by leapfrog) */
    real *v_current;      /* M^-1 r at the running end */
    int num_leapfrog, divergent;
    double sum_accept;
} Trajectory;

static double uniform(Model *m) { /* splitmix64 -> [0, 1) */
    uint64_t x = (m->rng += 0x9E3779B97F4A7C15ULL);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return (double)(x >> 11) * 0x1.0p-53;
}

static double log_add_exp(double a, double b) {
    if (a < b) {
        double t = a;
        a = b;
        b = t;
    }
    if (b == -INFINITY) return a;
    return a + log1p(exp(b - a));
}

static void copy_point(Point *to, const Point *from, int dim) {
    memcpy(to->z, from->z, sizeof(real) * dim);
    memcpy(to->r, from->r, sizeof(real) * dim);
    memcpy(to->grad, from->grad, sizeof(real) * dim);
    to->log_density = from->log_density;
}

static void copy_vec(real *to, const real *from, int dim) { memcpy(to, from, sizeof(real) * dim); }

static int no_u_turn(const real *v_minus, const real *v_plus, const real *rho, int dim) {
    return dot_n(v_minus, rho, dim) > 0 && dot_n(v_plus, rho, dim) > 0;
}

/* a subtree of 2^depth steps from t->current; adds its momenta to rho, its log weight
   to *log_weight; the multinomial draw goes to proposal. Stan's base_nuts::build_tree. */
static int build_tree(Trajectory *t, int depth, Point *proposal, real *v_begin, real *v_end,
                      real *rho, real *r_begin, real *r_end, double *log_weight) {
    const int dim = t->dim;
    if (depth == 0) {
        Point *c = &t->current;
        const real half = (real)(0.5 * t->step), step = (real)t->step;
        const real *imm = t->imm;
        real *z = c->z, *r = c->r, *g = c->grad, *v = t->v_current;
#pragma omp simd
        for (int i = 0; i < dim; i++) {
            r[i] += half * g[i];
            z[i] += step * (imm[i] * r[i]);
        }
        c->log_density = bnn_value_and_grad(t->m, z, g);
        double kinetic = 0.0;
#pragma omp simd reduction(+ : kinetic)
        for (int i = 0; i < dim; i++) {
            r[i] += half * g[i];
            v[i] = imm[i] * r[i];
            kinetic += (double)r[i] * v[i];
        }
        t->num_leapfrog++;
        double w = t->energy0 + c->log_density - 0.5 * kinetic; /* energy0 - energy */
        if (w != w) w = -INFINITY;
        if (w < -MAX_ENERGY_ERROR) t->divergent = 1;
        t->sum_accept += w > 0 ? 1.0 : exp(w);
        *log_weight = log_add_exp(*log_weight, w);
        copy_point(proposal, c, dim);
        copy_vec(v_begin, v, dim);
        copy_vec(v_end, v, dim);
        copy_vec(r_begin, r, dim);
        copy_vec(r_end, r, dim);
#pragma omp simd
        for (int i = 0; i < dim; i++) rho[i] += r[i];
        return !t->divergent;
    }
    /* this depth's vectors: rho_init, rho_final, v_init_end, r_init_end, v_final_begin,
       r_final_begin, the final subtree's proposal (z, r, grad), extended rho */
    real *ws = t->m->workspace + (size_t)depth * NUM_VECTORS_PER_DEPTH * dim;
    real *rho_init = ws, *rho_final = ws + dim, *v_init_end = ws + 2 * dim;
    real *r_init_end = ws + 3 * dim, *v_final_begin = ws + 4 * dim, *r_final_begin = ws + 5 * dim;
    Point proposal_final = {ws + 6 * dim, ws + 7 * dim, ws + 8 * dim, 0.0};
    real *extended = ws + 9 * dim;
    memset(rho_init, 0, sizeof(real) * dim);
    memset(rho_final, 0, sizeof(real) * dim);
    double log_weight_init = -INFINITY, log_weight_final = -INFINITY;
    if (!build_tree(t, depth - 1, proposal, v_begin, v_init_end, rho_init, r_begin, r_init_end,
                    &log_weight_init))
        return 0;
    if (!build_tree(t, depth - 1, &proposal_final, v_final_begin, v_end, rho_final,
                    r_final_begin, r_end, &log_weight_final))
        return 0;
    const double log_weight_subtree = log_add_exp(log_weight_init, log_weight_final);
    *log_weight = log_add_exp(*log_weight, log_weight_subtree);
    if (uniform(t->m) < exp(log_weight_final - log_weight_subtree))
        copy_point(proposal, &proposal_final, dim);
    real *rho_subtree = extended; /* rho_init + rho_final, then added to rho */
    for (int i = 0; i < dim; i++) {
        rho_subtree[i] = rho_init[i] + rho_final[i];
        rho[i] += rho_subtree[i];
    }
    if (!no_u_turn(v_begin, v_end, rho_subtree, dim)) return 0;
    for (int i = 0; i < dim; i++) extended[i] = rho_init[i] + r_final_begin[i];
    if (!no_u_turn(v_begin, v_final_begin, extended, dim)) return 0;
    for (int i = 0; i < dim; i++) extended[i] = rho_final[i] + r_init_end[i];
    return no_u_turn(v_init_end, v_end, extended, dim);
}

static int ensure_workspace(Model *m, int max_depth) {
    if (m->workspace_depth >= max_depth) return 1;
    /* depths 0..max_depth plus the transition's own vectors (index max_depth + 1) */
    real *ws = realloc(m->workspace,
                       sizeof(real) * (size_t)(max_depth + 2) * NUM_VECTORS_PER_DEPTH * m->dim);
    if (!ws) return 0;
    m->workspace = ws;
    m->workspace_depth = max_depth;
    return 1;
}

/* One NUTS transition from (z, grad, *log_density) with initial momentum r0; the new
   state is written back. stats: depth, leapfrog steps, summed acceptance, divergent,
   energy of the draw. Returns 0, or -1 if out of memory. */
int bnn_nuts_transition(Model *m, real *z, real *grad, double *log_density, const real *r0,
                        const real *imm, double step_size, int max_depth, uint64_t seed,
                        double *stats) {
    const int dim = m->dim;
    if (!ensure_workspace(m, max_depth)) return -1;
    m->rng = seed;
    real *ws = m->workspace + (size_t)(max_depth + 1) * NUM_VECTORS_PER_DEPTH * dim;
    /* the transition's vectors (Stan's names: bck/fwd ends, p = r, p_sharp = v) */
    real *buffer = malloc(sizeof(real) * (size_t)dim * 24);
    if (!buffer) return -1;
    real *b = buffer;
    Point fwd = {b, b + dim, b + 2 * dim, 0}, bck = {b + 3 * dim, b + 4 * dim, b + 5 * dim, 0};
    Point sample = {b + 6 * dim, b + 7 * dim, b + 8 * dim, 0};
    Point proposal = {b + 9 * dim, b + 10 * dim, b + 11 * dim, 0};
    real *r_bb = b + 12 * dim, *r_bf = b + 13 * dim, *r_fb = b + 14 * dim, *r_ff = b + 15 * dim;
    real *v_bb = b + 16 * dim, *v_bf = b + 17 * dim, *v_fb = b + 18 * dim, *v_ff = b + 19 * dim;
    real *rho = b + 20 * dim, *rho_fwd = b + 21 * dim, *rho_bck = b + 22 * dim;
    real *extended = b + 23 * dim;
    Trajectory t = {m, dim, step_size, 0.0, imm, {ws, ws + dim, ws + 2 * dim, 0}, ws + 3 * dim,
                    0, 0, 0.0};

    copy_vec(fwd.z, z, dim);
    copy_vec(fwd.r, r0, dim);
    copy_vec(fwd.grad, grad, dim);
    fwd.log_density = *log_density;
    copy_point(&bck, &fwd, dim);
    copy_point(&sample, &fwd, dim);
    double kinetic = 0.0;
    for (int i = 0; i < dim; i++) {
        v_ff[i] = imm[i] * r0[i];
        kinetic += (double)r0[i] * v_ff[i];
    }
    t.energy0 = -*log_density + 0.5 * kinetic;
    copy_vec(v_bb, v_ff, dim);
    copy_vec(v_bf, v_ff, dim);
    copy_vec(v_fb, v_ff, dim);
    copy_vec(r_bb, r0, dim);
    copy_vec(r_bf, r0, dim);
    copy_vec(r_fb, r0, dim);
    copy_vec(r_ff, r0, dim);
    copy_vec(rho, r0, dim);
    double log_weight = 0.0;
    int depth = 0;
    while (depth < max_depth) {
        double log_weight_subtree = -INFINITY;
        int valid;
        memset(rho_fwd, 0, sizeof(real) * dim);
        memset(rho_bck, 0, sizeof(real) * dim);
        if (uniform(m) > 0.5) { /* forward in time */
            copy_vec(rho_bck, rho, dim);
            copy_vec(r_bf, r_ff, dim);
            copy_vec(v_bf, v_ff, dim);
            copy_point(&t.current, &fwd, dim);
            t.step = step_size;
            valid = build_tree(&t, depth, &proposal, v_fb, v_ff, rho_fwd, r_fb, r_ff,
                               &log_weight_subtree);
            copy_point(&fwd, &t.current, dim);
        } else { /* backward in time */
            copy_vec(rho_fwd, rho, dim);
            copy_vec(r_fb, r_bb, dim);
            copy_vec(v_fb, v_bb, dim);
            copy_point(&t.current, &bck, dim);
            t.step = -step_size;
            valid = build_tree(&t, depth, &proposal, v_bf, v_bb, rho_bck, r_bf, r_bb,
                               &log_weight_subtree);
            copy_point(&bck, &t.current, dim);
        }
        if (!valid) break;
        depth++;
        if (log_weight_subtree > log_weight || uniform(m) < exp(log_weight_subtree - log_weight))
            copy_point(&sample, &proposal, dim);
        log_weight = log_add_exp(log_weight, log_weight_subtree);
        for (int i = 0; i < dim; i++) rho[i] = rho_bck[i] + rho_fwd[i];
        if (!no_u_turn(v_bb, v_ff, rho, dim)) break;
        for (int i = 0; i < dim; i++) extended[i] = rho_bck[i] + r_fb[i];
        if (!no_u_turn(v_bb, v_fb, extended, dim)) break;
        for (int i = 0; i < dim; i++) extended[i] = rho_fwd[i] + r_bf[i];
        if (!no_u_turn(v_bf, v_ff, extended, dim)) break;
    }
    copy_vec(z, sample.z, dim);
    copy_vec(grad, sample.grad, dim);
    *log_density = sample.log_density;
    kinetic = 0.0;
    for (int i = 0; i < dim; i++) kinetic += (double)sample.r[i] * imm[i] * sample.r[i];
    stats[0] = depth;
    stats[1] = t.num_leapfrog;
    stats[2] = t.sum_accept;
    stats[3] = t.divergent;
    stats[4] = -sample.log_density + 0.5 * kinetic;
    free(buffer);
    return 0;
}
