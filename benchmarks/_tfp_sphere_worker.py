"""TFP-on-JAX side of bench_sphere.py: a JSON-lines worker (run by the TFP venv's python).

Request "values": {"family", "loc", "kappa", "x"} → log_prob(x), mean, entropy and KL to
SphericalUniform in float64. Request "setup": {"family", "loc", "kappa", "batch"} builds
a jitted sample + jax.grad of Σ z·w in κ and loc (float32) and calibrates it; request
"time": {"case", "reps"} runs it and returns the seconds per call (process CPU time or
wall, as asked). One JSON object per line in, one out.
"""

import json
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import tensorflow_probability.substrates.jax as tfp  # noqa: E402

tfd = tfp.distributions
FAMILIES = {"vmf": tfd.VonMisesFisher, "ps": tfd.PowerSpherical}
CASES = {}


def values(req):
    loc = jnp.asarray(req["loc"], jnp.float64)
    kappa = jnp.asarray(req["kappa"], jnp.float64)
    q = FAMILIES[req["family"]](loc, kappa)
    u = tfd.SphericalUniform(dimension=loc.shape[-1], batch_shape=kappa.shape, dtype=jnp.float64)
    x = jnp.asarray(req["x"], jnp.float64)
    return {
        "log_prob": q.log_prob(x).tolist(),
        "mean": q.mean().tolist(),
        "entropy": q.entropy().tolist(),
        "kl": tfd.kl_divergence(q, u).tolist(),
    }


def setup(req):
    loc = jnp.asarray(req["loc"], jnp.float32)
    kappa = jnp.asarray(req["kappa"], jnp.float32)
    cls = FAMILIES[req["family"]]
    w = jnp.linspace(-1.0, 1.0, loc.shape[-1], dtype=jnp.float32)

    def loss(kappa, loc, seed):
        return jnp.sum(cls(loc, kappa).sample(seed=seed) * w)

    key = jax.random.PRNGKey(0)
    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    try:
        jax.block_until_ready(grad(kappa, loc, key))  # compile
        with_grad = True
    except ValueError:  # no reverse mode through TFP's rejection while_loop: sample only
        grad = jax.jit(lambda kappa, loc, seed: cls(loc, kappa).sample(seed=seed))
        jax.block_until_ready(grad(kappa, loc, key))
        with_grad = False
    CASES[req["case"]] = (grad, kappa, loc)
    return {"with_grad": with_grad}


def run(req, clock):
    grad, kappa, loc = CASES[req["case"]]
    key = jax.random.PRNGKey(req.get("seed", 0))
    t0 = clock()
    for i in range(req["reps"]):
        jax.block_until_ready(grad(kappa, loc, jax.random.fold_in(key, i)))
    return {"seconds": (clock() - t0) / req["reps"]}


def main():
    clock = time.process_time if "--clock=cpu" in sys.argv else time.perf_counter
    for line in sys.stdin:
        req = json.loads(line)
        kind = req.pop("kind")
        out = (
            values(req) if kind == "values" else setup(req) if kind == "setup" else run(req, clock)
        )
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
