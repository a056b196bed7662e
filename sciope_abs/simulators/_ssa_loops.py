"""Source templates of the compiled SSA kernels (see :mod:`sciope_abs.simulators.fast_ssa`).

Four exact methods share one random-number scheme (xoshiro256** per trajectory, seeded from
the point's ``SeedSequence``), one calling convention (``ssa_run`` below) and one set of failure
codes; they differ in how the next reaction is found and how propensities are kept:

``direct``
    Gillespie's direct method as first compiled here: after each event the changed propensities
    (or all of them) are recomputed by ``_props_update``, the running sums are rebuilt and a
    branch-free scan picks the reaction, O(M) per event; waiting time ``-log(u) / a0``.
``unrolled`` (small networks)
    The direct method's choice rule as straight-line code over scalar locals: state, generator
    state, propensities and running sums (balanced, depth log2 M) stay in registers, the
    stoichiometry is added from constant columns, mass-action propensities are not re-checked
    (their rates are, once per point), and the waiting time is a ziggurat exponential (no
    logarithm).  Up to :data:`UNROLLED_LANES_MAX_REACTIONS` reactions two trajectories of a
    point run side by side in one loop (two independent dependency chains for the processor to
    overlap), with the same numbers as one at a time.
``dependency`` (large networks)
    The dependency graph is compiled into straight-line ``_fire(j, ...)`` code per reaction
    that applies the stoichiometry and recomputes only the propensities reading a changed
    species, returning the change of the total; the total is updated incrementally and
    recomputed exactly whenever its accumulated rounding could exceed ``2**-42`` of its value
    (relative); the reaction is found by a linear search with early exit in an order that
    adapts to the firing frequencies (the sorting direct method: a reaction that fires swaps
    with the one before it).  The order restarts at the declared order for every trajectory,
    so a trajectory's numbers depend only on its own seed.
``tree``
    The same compiled dependency graph, with the propensities as leaves of a binary partial-sum
    tree: ``_fire`` refreshes the changed leaves and exactly the internal nodes above them (a
    fresh sum of two children, so no drift), and the reaction is found by a branch-free descent
    of ``log2 M`` steps; it uses the direct method's random numbers and choice rule, so its
    trajectories equal the direct method's up to rounding in the sums.

All four sample the same process (the next reaction given the state has probability
``a_j / a0``, the waiting time is exponential with rate ``a0``), so their numbers differ for a
seed but their distributions do not.

Failure codes (``status[i]``): ``m + 1`` the propensity of reaction ``m`` became negative, NaN or
infinite; ``M + 1`` the total overflowed; ``-1`` more than ``max_events`` events in one
trajectory; ``-2`` the point ran past ``timeout`` seconds of wall-clock time; ``-3`` the total
propensity times the time left exceeded :data:`EXPLOSION_EVENTS` expected events.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

__all__ = ["METHODS", "EXPLOSION_EVENTS", "PRELUDE", "LOOPS", "UNROLLED_LANES_MAX_REACTIONS", "fire_source", "loop_source",
           "unrolled_source"]

METHODS = ("direct", "unrolled", "dependency", "tree")
#: A trajectory whose total propensity times the time left exceeds this many expected events
#: (rates near 1e300, an exploding population) is failed at once instead of running to
#: ``max_events``.
EXPLOSION_EVENTS = 1e30
#: ``_fire`` is inlined into the loop up to this many reactions.
INLINE_MAX_REACTIONS = 16
#: Above INLINE_MAX_REACTIONS, reactions per compiled ``_fire_<chunk>`` function.
FIRE_CHUNK = 8
#: Events between two wall-clock checks when a timeout is set.
TIMER_TICK = 16384
#: ``unrolled`` runs two trajectories of a point side by side (one event of each per pass of the
#: loop) up to this many reactions, one at a time above (code size and compile time double).
UNROLLED_LANES_MAX_REACTIONS = 12

# ------------------------------------------------------------------------------ shared part
PRELUDE = '''
_TWO_M53 = 1.0 / 9007199254740992.0
_EXPLODE = {explode!r}
_TICK = {tick}


@njit(cache=True)
def _now():
    """Wall-clock seconds (perf_counter), read in object mode (called every _TICK events)."""
    with objmode(t="float64"):
        t = time.perf_counter()
    return t


@njit(cache=True, nogil=True, inline='always')
def _rotl(v, k):
    return (v << k) | (v >> (np.uint64(64) - k))


@njit(cache=True, nogil=True, inline='always')
def _next_u64(s):
    """xoshiro256** step: returns 64 random bits and advances the state ``s`` (4 x uint64)."""
    result = _rotl(s[1] * np.uint64(5), np.uint64(7)) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], np.uint64(45))
    return result


@njit(cache=True, nogil=True, inline='always')
def _uniform_open0(s):
    """Uniform on (0, 1] (53-bit integers convert through int64: one instruction, same value)."""
    return (np.float64(np.int64(_next_u64(s) >> np.uint64(11))) + 1.0) * _TWO_M53


@njit(cache=True, nogil=True, inline='always')
def _uniform(s):
    """Uniform on [0, 1)."""
    return np.float64(np.int64(_next_u64(s) >> np.uint64(11))) * _TWO_M53


def _ziggurat_tables():
    """Marsaglia & Tsang's (2000) 256-layer ziggurat for the standard exponential, 53-bit
    (numpy's ``ke_double``, ``we_double``, ``fe_double`` to within rounding)."""
    m2 = 2.0 ** 53
    de = 7.697117470131487
    te = de
    ve = 3.949659822581572e-3
    q = ve / math.exp(-de)
    ke = np.zeros(256, dtype=np.uint64)
    we = np.zeros(256)
    fe = np.zeros(256)
    ke[0] = np.uint64(int((de / q) * m2))
    we[0] = q / m2
    we[255] = de / m2
    fe[0] = 1.0
    fe[255] = math.exp(-de)
    for i in range(254, 0, -1):
        de = -math.log(ve / de + math.exp(-de))
        ke[i + 1] = np.uint64(int((de / te) * m2))
        te = de
        fe[i] = math.exp(-de)
        we[i] = de / m2
    return ke, we, fe


_ZKE, _ZWE, _ZFE = _ziggurat_tables()
_ZR = 7.697117470131487


@njit(cache=True, nogil=True, inline='always')
def _next4(s0, s1, s2, s3):
    """``_next_u64`` on a state held in four scalars: ``(bits, s0, s1, s2, s3)``.

    The same numbers as ``_next_u64``; kept in registers by the compiled loops (an array state
    passed to an inlined function costs two reference-count calls and a spill of every live
    register per call)."""
    result = _rotl(s1 * np.uint64(5), np.uint64(7)) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, np.uint64(45))
    return result, s0, s1, s2, s3


@njit(cache=True, nogil=True, inline='always')
def _uniform4(s0, s1, s2, s3):
    """``_uniform`` on a four-scalar state: ``(u, s0, s1, s2, s3)``, u on [0, 1)."""
    b, s0, s1, s2, s3 = _next4(s0, s1, s2, s3)
    return np.float64(np.int64(b >> np.uint64(11))) * _TWO_M53, s0, s1, s2, s3


@njit(cache=True, nogil=True)
def _exponential_slow4(s0, s1, s2, s3, idx, x):
    """The ziggurat's rare branches, the tail (layer 0) and the wedges: ``(e, s0, s1, s2, s3)``."""
    while True:
        if idx == 0:
            u, s0, s1, s2, s3 = _uniform4(s0, s1, s2, s3)
            return _ZR - math.log1p(-u), s0, s1, s2, s3
        u, s0, s1, s2, s3 = _uniform4(s0, s1, s2, s3)
        if (_ZFE[idx - 1] - _ZFE[idx]) * u + _ZFE[idx] < math.exp(-x):
            return x, s0, s1, s2, s3
        b, s0, s1, s2, s3 = _next4(s0, s1, s2, s3)
        ri = b >> np.uint64(3)
        idx = np.int64(ri & np.uint64(0xFF))
        ri >>= np.uint64(8)
        x = np.float64(np.int64(ri)) * _ZWE[idx]
        if ri < _ZKE[idx]:
            return x, s0, s1, s2, s3


@njit(cache=True, nogil=True, inline='always')
def _exponential4(s0, s1, s2, s3):
    """Standard exponential by the ziggurat, one 64-bit draw and no logarithm ~98 % of the time:
    ``(e, s0, s1, s2, s3)`` for a generator state held in four scalars."""
    b, s0, s1, s2, s3 = _next4(s0, s1, s2, s3)
    ri = b >> np.uint64(3)
    idx = np.int64(ri & np.uint64(0xFF))
    ri >>= np.uint64(8)
    x = np.float64(np.int64(ri)) * _ZWE[idx]
    if ri < _ZKE[idx]:
        return x, s0, s1, s2, s3
    return _exponential_slow4(s0, s1, s2, s3, idx, x)


@njit(cache=True, nogil=True)
def exponential_batch(pool, out):
    """``out[:]`` standard exponentials from the stream of trajectory 0 of ``pool`` (for checks)."""
    s = np.empty(4, dtype=np.uint64)
    _seed_trajectory(pool, 0, s)
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    for q in range(out.shape[0]):
        e, s0, s1, s2, s3 = _exponential4(s0, s1, s2, s3)
        out[q] = e


@njit(cache=True, nogil=True)
def _seed_trajectory(pool, r, s):
    """xoshiro256** state ``s`` of trajectory ``r``: words ``4r .. 4r+3`` of
    ``SeedSequence.generate_state(., uint64)`` for the sequence whose entropy pool is ``pool``
    (numpy's output hash, evaluated here to avoid a Python call per point)."""
    mask = np.uint64(0xFFFFFFFF)
    h = np.uint64(0x8B51F9DD)
    for _ in range(8 * r):  # advance the hash constant to output word 8r
        h = (h * np.uint64(0x58F38DED)) & mask
    for q in range(4):
        w = np.uint64(0)
        for half in range(2):
            v = np.uint64(pool[(8 * r + 2 * q + half) % 4]) ^ h
            h = (h * np.uint64(0x58F38DED)) & mask
            v = (v * h) & mask
            v ^= v >> np.uint64(16)
            w |= v << np.uint64(32 * half)
        s[q] = w
    if s[0] == 0 and s[1] == 0 and s[2] == 0 and s[3] == 0:  # the all-zero state is a fixed point
        s[0] = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True)
def trajectory_states(pools, R, S):
    """Generator states ``S[i, r]`` (uint64 x 4) of every point and trajectory (for checks)."""
    for i in range(pools.shape[0]):
        for r in range(R):
            _seed_trajectory(pools[i], r, S[i, r])


@njit(cache=True, nogil=True, error_model="numpy")
def props_batch(X, P, A):
    """Propensities ``A[i]`` of state ``X[i]`` under parameters ``P[i]`` (compiled on first use)."""
    for i in range(X.shape[0]):
        _props_all(X[i], P[i], A[i])


@njit(cache=True, nogil=True)
def _first_bad(a, M):
    """1 + the first reaction whose propensity is negative, NaN or infinite, else 0."""
    for m in range(M):
        if not (a[m] >= 0.0 and a[m] < np.inf):
            return m + 1
    return 0
'''

_SIGNATURE = ('"void(int64[::1], int64[::1], float64[::1], float64[:, ::1], float64[:, ::1], float64[:, ::1], '
              'float64[::1], int64[::1], uint32[:, ::1], int64, int64, float64, float64[:, :, :, ::1], '
              'int64[::1], int64[::1])"')

_DOC = '''    """{title} SSA for every point ``i`` and trajectory ``r``.

    nu_ptr, nu_idx, nu_val : stoichiometry in CSR form (reaction -> changed species, change)
    nu (M, S): the same stoichiometry, dense
    P (n, n_params), X0 (n, S): parameters and initial state per point
    tgrid (T,): recording times; the value at t is the state after the last event <= t
    out_idx (S_out,): species recorded; pools (n, 4): SeedSequence entropy pool per point,
    from which trajectory r of R seeds its xoshiro256** generator
    max_events: per trajectory; timeout: wall-clock seconds per point (inf: none)
    out (n, R, S_out, T): written; status (n,): failure code (module docstring of _ssa_loops);
    events (n,): events fired per point
    """'''

# the head and tail every loop shares: point and trajectory loops, timer, recording, limits
_HEAD = '''
@njit({sig}, cache=True, nogil=True, error_model="numpy")
def ssa_run(nu_ptr, nu_idx, nu_val, nu, P, X0, tgrid, out_idx, pools, R, max_events, timeout, out, status, events):
{doc}
    n = P.shape[0]
    T = tgrid.shape[0]
    S = X0.shape[1]
    S_out = out_idx.shape[0]
    M = nu_ptr.shape[0] - 1
    x = np.empty(S)
    s = np.empty(4, dtype=np.uint64)
    inf = np.inf
    t_end = tgrid[T - 1]
    timed = timeout < inf
{alloc}
    for i in range(n):
        p = P[i]
        status[i] = 0
        events[i] = 0
        tick = _TICK
        t_start = _now() if timed else 0.0
        for r in range(R):
            _seed_trajectory(pools[i], r, s)
            for q in range(S):
                x[q] = X0[i, q]
            t = tgrid[0]
            k = 0
            n_ev = 0
{init}
            while True:
{total}
                if a0 > 0.0:
                    if a0 * (t_end - t) > _EXPLODE:
                        status[i] = -3
                        break
                    t_next = t - math.log(_uniform_open0(s)) / a0
                else:
                    t_next = inf
                while k < T and tgrid[k] < t_next:
                    for q in range(S_out):
                        out[i, r, q, k] = x[out_idx[q]]
                    k += 1
                if k >= T:
                    break
                if n_ev >= max_events:
                    status[i] = -1
                    break
                if timed:
                    tick -= 1
                    if tick <= 0:
                        tick = _TICK
                        if _now() - t_start > timeout:
                            status[i] = -2
                            break
                target = _uniform(s) * a0
{select}
                t = t_next
                n_ev += 1
            events[i] += n_ev
            if status[i] != 0:
                break
'''

_DIRECT = {
    "title": "Direct-method",
    "alloc": '''    a = np.zeros(max(M, 1))
    c = np.zeros(max(M, 1))''',
    "init": '''            _props_all(x, p, a)''',
    "total": '''                # total and running sums; "ok" stays True only for finite non-negative propensities
                a0 = 0.0
                ok = True
                for m in range(M):
                    v = a[m]
                    ok &= v >= 0.0
                    a0 += v
                    c[m] = a0
                if not ok or not (a0 < inf):
                    status[i] = M + 1  # finite propensities whose total overflows
                    for m in range(M):
                        if not (a[m] >= 0.0 and a[m] < inf):
                            status[i] = m + 1
                            break
                    break''',
    "select": '''                # branch-free choice: the first m whose running sum exceeds u * a0 (a[m] > 0)
                j = 0
                for m in range(M):
                    j += c[m] <= target
                if j >= M:  # u * a0 rounded up to a0: take the last reaction that can fire
                    j = M - 1
                    while a[j] <= 0.0:
                        j -= 1
                _apply(j, x, nu_ptr, nu_idx, nu_val, nu)
                _props_update(j, x, p, a)''',
}

_DEPENDENCY = {
    "title": "Sorting direct-method (dependency graph, incremental total)",
    "alloc": '''    a = np.zeros(max(M, 1))
    order = np.zeros(max(M, 1), dtype=np.int64)''',
    "init": '''            for m in range(M):
                order[m] = m
            _props_all(x, p, a)
            a0 = 0.0
            err = inf  # forces the exact total at the first step''',
    "total": '''                # the incremental total is trusted while its rounding bound (err * 2**-53) stays
                # below 2**-42 of it; otherwise (and on NaN, inf or a negative value) it is
                # recomputed exactly and every propensity is checked
                if not (err <= 2048.0 * a0 and a0 < inf):
                    bad = _first_bad(a, M)
                    if bad:
                        status[i] = bad
                        break
                    a0 = 0.0
                    for m in range(M):
                        a0 += a[m]
                    if not (a0 < inf):
                        status[i] = M + 1
                        break
                    err = 0.0''',
    "select": '''                # linear search with early exit in the adaptive order
                acc = 0.0
                q = 0
                while q < M:
                    acc += a[order[q]]
                    if acc > target:
                        break
                    q += 1
                if q >= M:  # rounding: the running sum fell short of u * a0
                    q = M - 1
                    while q >= 0 and a[order[q]] <= 0.0:
                        q -= 1
                    if q < 0:  # no reaction can fire: the total was a rounding residue
                        err = inf
                        continue
                j = order[q]
                if q > 0:  # a reaction that fires moves one place up
                    order[q] = order[q - 1]
                    order[q - 1] = j
FIRE_CALL
                a_new = a0 + fired
                err += a0 + abs(a_new)
                a0 = a_new''',
}

_TREE = {
    "title": "Partial-sum-tree",
    "alloc": '''    w = np.zeros(2 * _LEAVES)
    a = w[_LEAVES:_LEAVES + M]''',
    "init": '''            for q in range(2 * _LEAVES):
                w[q] = 0.0
            _props_all(x, p, a)
            for q in range(_LEAVES - 1, 0, -1):
                w[q] = w[2 * q] + w[2 * q + 1]
            ok = _first_bad(a, M) == 0''',
    "total": '''                a0 = w[1]
                if not ok or not (a0 < inf):
                    bad = _first_bad(a, M)
                    status[i] = bad if bad else M + 1
                    break''',
    "select": '''                # descent: left child if the target falls in its sum, else right (target reduced by it)
                q = 1
                while q < _LEAVES:  # branch-free: the step right is an arithmetic 0/1
                    left = w[2 * q]
                    go = target >= left
                    target -= left * go
                    q = 2 * q + np.int64(go)
                j = q - _LEAVES
                if j >= M or w[q] <= 0.0:  # rounding at a node: the nearest reaction that can fire
                    j = min(j, M - 1)
                    while j >= 0 and a[j] <= 0.0:
                        j -= 1
                    if j < 0:
                        j = 0
                        while a[j] <= 0.0:
                            j += 1
FIRE_CALL
                ok = fired''',
}

LOOPS = {
    "direct": _DIRECT,
    "dependency": _DEPENDENCY,
    "tree": _TREE,
}


def loop_source(method: str, n_reactions: int = 0) -> str:
    """The ``ssa_run`` source of ``method`` plus the shared prelude (``unrolled``: the prelude
    only; its loop comes from :func:`unrolled_source`); ``n_reactions`` sizes the call of the
    compiled ``_fire`` of the ``dependency`` and ``tree`` methods (:func:`fire_source`)."""
    prelude = PRELUDE.format(explode=EXPLOSION_EVENTS, tick=TIMER_TICK)
    if method == "unrolled":
        return prelude
    parts = dict(LOOPS[method])
    if method in ("dependency", "tree"):
        parts["select"] = parts["select"].replace("FIRE_CALL", _fire_call(method, n_reactions))
    return prelude + _HEAD.format(sig=_SIGNATURE, doc=_DOC.format(title=parts.pop("title")), **parts)


def _fire_call(method: str, M: int) -> str:
    """Loop lines that fire reaction ``j`` into ``fired``: one call of the inlined ``_fire`` up
    to :data:`INLINE_MAX_REACTIONS` reactions, above a dispatch over the ``_fire_<chunk>``
    functions written out in the loop itself (an inlined dispatcher taking the arrays would
    cost six reference-count calls per event)."""
    arg = "w" if method == "tree" else "a"
    ind = " " * 16
    if M <= INLINE_MAX_REACTIONS:
        return f"{ind}fired = _fire(j, x, p, {arg})"
    chunks = (M + FIRE_CHUNK - 1) // FIRE_CHUNK
    lines = []
    for c in range(chunks):
        head = "if" if c == 0 else "elif"
        lines += [f"{ind}{head} j < {(c + 1) * FIRE_CHUNK}:" if c < chunks - 1 else f"{ind}else:",
                  f"{ind}    fired = _fire_{c}(j, x, p, {arg})"]
    return "\n".join(lines)


def _leaves(M: int) -> int:
    leaves = 1
    while leaves < max(M, 1):
        leaves *= 2
    return max(leaves, 2)


def _ancestors(L: int, leaves: Sequence[int]) -> list[int]:
    """Internal nodes above ``leaves`` (tree positions), deepest first."""
    nodes: set[int] = set()
    for m in leaves:
        q = (L + m) // 2
        while q >= 1:
            nodes.add(q)
            q //= 2
    return sorted(nodes, reverse=True)


def fire_source(method: str, sources: Sequence[str], nu: np.ndarray, deps: Sequence[Sequence[int]]) -> list[str]:
    """Lines of the generated ``_fire(j, x, p, a)`` of the ``dependency`` and ``tree`` methods.

    ``_fire`` adds reaction ``j``'s stoichiometry row to ``x`` and recomputes the propensities
    ``deps[j]`` (the reactions reading a species ``j`` changes).  ``dependency`` returns the
    change of their sum (NaN if one is negative or NaN); ``tree`` writes them into the leaves of
    ``w`` (``a[m]`` is ``w[L + m]``), recomputes exactly the internal nodes above them,
    bottom-up, and returns whether all are non-negative.  It is straight-line code per
    reaction (constants, no tables); up to :data:`INLINE_MAX_REACTIONS` reactions one function
    inlined into the loop, above that :data:`FIRE_CHUNK` reactions per compiled function
    ``_fire_<chunk>``, called from a dispatch written into the loop (:func:`_fire_call`; numba
    needs minutes for one straight-line function of a 47-reaction network, seconds for chunks).
    """
    M = len(sources)
    L = _leaves(M)
    tree = method == "tree"
    split = M > INLINE_MAX_REACTIONS
    arg = "w" if tree else "a"
    lines = [f"_LEAVES = {L}", "", ""]
    if not split:
        lines += ["@njit(cache=True, nogil=True, error_model='numpy', inline='always')", f"def _fire(j, x, p, {arg}):"]
    if M == 0:
        return lines + ["    return True" if tree else "    return 0.0"]
    # every branch has its own names and returns at once: nothing is merged across branches
    for j in range(M):
        if split and j % FIRE_CHUNK == 0:
            lines += ["", "", "@njit(cache=True, nogil=True, error_model='numpy')",
                      f"def _fire_{j // FIRE_CHUNK}(j, x, p, {arg}):"]
        lines.append(f"    {'if' if j % FIRE_CHUNK == 0 or not split else 'elif'} j == {j}:")
        body = [f"x[{q}] += {float(nu[j, q])!r}" for q in np.flatnonzero(nu[j])]
        body += [f"v{m} = {sources[m]}" for m in deps[j]]
        checks = " and ".join(f"v{m} >= 0.0" for m in deps[j]) or "True"
        if tree:
            body += [f"w[{L + m}] = v{m}" for m in deps[j]]
            body += [f"w[{q}] = w[{2 * q}] + w[{2 * q + 1}]" for q in _ancestors(L, deps[j])]
            body.append(f"return {checks}")
        else:
            delta = " + ".join(f"(v{m} - a[{m}])" for m in deps[j]) or "0.0"
            body.append(f"d = {delta}")
            body += [f"a[{m}] = v{m}" for m in deps[j]]
            body.append(f"return d if {checks} else np.nan")
        lines += ["        " + b for b in body]
        if split and (j % FIRE_CHUNK == FIRE_CHUNK - 1 or j == M - 1):
            lines.append("    return True" if tree else "    return 0.0")
    if split:  # the loop dispatches over the chunks itself (_fire_call)
        return lines
    lines.append("    return True" if tree else "    return 0.0")
    return lines


# ------------------------------------------------------------------------------ "unrolled"
def _scalar(src: str) -> str:
    """``x[3]`` -> ``x_3`` and ``p[1]`` -> ``p_1`` in a generated propensity source."""
    return re.sub(r"\b([xp])\[(\d+)\]", r"\1_\2", src)


def unrolled_source(sources: Sequence[str], nu: np.ndarray, n_params: int, rates: Sequence[int | None],
                    lanes: int = 1) -> str:
    """``ssa_run`` of the ``unrolled`` method: the direct method's choice rule as straight-line
    code over scalar locals (state, generator, propensities, running sums), so nothing goes
    through memory between events, with the waiting time from a ziggurat exponential instead
    of ``-log(u)``; for small networks.

    ``rates[m]`` is the rate parameter's column of a mass-action reaction (``None``: a custom
    law).  A mass-action propensity is non-negative whenever its rate is (counts stay
    non-negative), so only the rates are checked, once per point; custom laws are checked
    after every event.  ``lanes=2`` runs trajectories ``r`` and ``r + 1`` of a point side by
    side, one event of each per pass, so the processor overlaps their two dependency chains
    (state -> propensities -> sums -> choice -> state); every trajectory keeps its own
    generator, so the numbers equal those of ``lanes=1``.  A point that fails stops both lanes
    (its ``events`` count then includes the other lane's events so far).
    """
    if lanes not in (1, 2):
        raise ValueError(f"lanes must be 1 or 2, got {lanes!r}")
    if lanes == 2:
        return _unrolled2_source(sources, nu, n_params, rates)
    M, S = nu.shape
    ind = " " * 16
    props = [f"{ind}a_{m} = {_scalar(src)}" for m, src in enumerate(sources)]
    sums: list[str] = []
    _prefix_sums([f"a_{m}" for m in range(M)], sums, ind)  # c_0 .. c_{M-1}, depth log2(M)
    ok = " & ".join(f"(a_{m} >= 0.0)" for m in range(M) if rates[m] is None) or "True"
    rate_check = "".join(f"        {'if' if n == 0 else 'elif'} not (p_{k} >= 0.0):\n            status[i] = {m + 1}\n"
                         for n, (m, k) in enumerate((m, k) for m, k in enumerate(rates) if k is not None))
    first_bad = "".join(f"{ind}    {'if' if m == 0 else 'elif'} not (a_{m} >= 0.0 and a_{m} < inf):\n"
                        f"{ind}        status[i] = {m + 1}\n" for m in range(M))
    count = _balanced_sum([f"np.int64(c_{m} <= target)" for m in range(M)])
    last_pos = "".join(f"{ind}    if a_{m} > 0.0:\n{ind}        j = {m}\n" for m in range(M))
    apply, tables = [], []
    for q in range(S):  # one load from a constant column of the stoichiometry per changed species
        if nu[:, q].any():
            tables.append(f"_NU_{q} = np.array({[float(v) for v in nu[:, q]]!r})")
            apply.append(f"{ind}x_{q} += _NU_{q}[j]")
    body = {
        "params": "\n".join(f"        p_{k} = P[i, {k}]" for k in range(n_params)) or "        pass_ = 0",
        "load": "\n".join(f"            x_{q} = X0[i, {q}]" for q in range(S)),
        "store": "\n".join(f"                        xs[{q}] = x_{q}" for q in range(S)),
        "props": "\n".join(props), "sums": "\n".join(sums), "ok": ok, "first_bad": first_bad,
        "count": count, "last_pos": last_pos, "apply": "\n".join(apply) or f"{ind}n_ev += 0",
        "M": M, "S": max(S, 1), "last": M - 1, "rate_check": rate_check or "        status[i] = 0",
    }
    loop = _UNROLLED.format(sig=_SIGNATURE, doc=_DOC.format(title="Direct-method (unrolled)"), **body)
    return "\n".join(tables) + "\n\n" + loop


def _balanced_sum(terms: Sequence[str]) -> str:
    """``terms`` added as a balanced tree (latency log2 n instead of n)."""
    if len(terms) == 1:
        return terms[0]
    h = len(terms) // 2
    return f"({_balanced_sum(terms[:h])} + {_balanced_sum(terms[h:])})"


def _prefix_sums(terms: Sequence[str], lines: list[str], ind: str, offset: int = 0, base: str | None = None) -> None:
    """Append ``c_{offset + m} = base + terms[0] + ... + terms[m]`` for every ``m``, each a
    balanced sum over shared partial sums (recursive halving: depth log2 n)."""
    if len(terms) == 1:
        lines.append(f"{ind}c_{offset} = {terms[0] if base is None else f'{base} + {terms[0]}'}")
        return
    h = (len(terms) + 1) // 2
    _prefix_sums(terms[:h], lines, ind, offset, base)
    # the right half's own prefix sums, then shifted by the left half's total
    right: list[str] = []
    _prefix_sums(terms[h:], right, ind + "", offset + h, None)
    for line in right:
        name, expr = line.strip().split(" = ", 1)
        lines.append(f"{ind}r{name} = {expr.replace('c_', 'rc_')}")
    for m in range(h, len(terms)):
        lines.append(f"{ind}c_{offset + m} = c_{offset + h - 1} + rc_{offset + m}")


_UNROLLED = '''
@njit({sig}, cache=True, nogil=True, error_model="numpy")
def ssa_run(nu_ptr, nu_idx, nu_val, nu, P, X0, tgrid, out_idx, pools, R, max_events, timeout, out, status, events):
{doc}
    n = P.shape[0]
    T = tgrid.shape[0]
    S_out = out_idx.shape[0]
    xs = np.empty({S})
    s = np.empty(4, dtype=np.uint64)
    inf = np.inf
    t_end = tgrid[T - 1]
    timed = timeout < inf
    for i in range(n):
{params}
        status[i] = 0
        events[i] = 0
{rate_check}
        if status[i] != 0:
            continue
        tick = _TICK
        t_start = _now() if timed else 0.0
        for r in range(R):
            _seed_trajectory(pools[i], r, s)
            s0 = s[0]
            s1 = s[1]
            s2 = s[2]
            s3 = s[3]
{load}
            t = tgrid[0]
            k = 0
            n_ev = 0
            while True:
{props}
{sums}
                a0 = c_{last}
                if not ({ok}) or not (a0 < inf):
                    status[i] = {M} + 1
{first_bad}
                    break
                if a0 > 0.0:
                    if a0 * (t_end - t) > _EXPLODE:
                        status[i] = -3
                        break
                    e, s0, s1, s2, s3 = _exponential4(s0, s1, s2, s3)
                    t_next = t + e / a0
                else:
                    t_next = inf
                if k < T and tgrid[k] < t_next:
                    while k < T and tgrid[k] < t_next:
{store}
                        for q in range(S_out):
                            out[i, r, q, k] = xs[out_idx[q]]
                        k += 1
                if k >= T:
                    break
                if n_ev >= max_events:
                    status[i] = -1
                    break
                if timed:
                    tick -= 1
                    if tick <= 0:
                        tick = _TICK
                        if _now() - t_start > timeout:
                            status[i] = -2
                            break
                u, s0, s1, s2, s3 = _uniform4(s0, s1, s2, s3)
                target = u * a0
                j = {count}
                if j >= {M}:  # u * a0 rounded up to a0: the last reaction that can fire
{last_pos}
{apply}
                t = t_next
                n_ev += 1
            events[i] += n_ev
            if status[i] != 0:
                break
'''

# ------------------------------------------------------------------------------ "unrolled", two lanes
_UNROLLED2 = '''
@njit({sig}, cache=True, nogil=True, error_model="numpy")
def ssa_run(nu_ptr, nu_idx, nu_val, nu, P, X0, tgrid, out_idx, pools, R, max_events, timeout, out, status, events):
{doc}
    n = P.shape[0]
    T = tgrid.shape[0]
    S_out = out_idx.shape[0]
    xs = np.empty({S})
    s = np.empty(4, dtype=np.uint64)
    inf = np.inf
    t_end = tgrid[T - 1]
    timed = timeout < inf
    for i in range(n):
{params}
        status[i] = 0
        events[i] = 0
{rate_check}
        if status[i] != 0:
            continue
        tick = _TICK
        t_start = _now() if timed else 0.0
        for r in range(0, R, 2):
            # lane A runs trajectory r, lane B trajectory r + 1 (none when r + 1 == R); each lane
            # has its own generator and state, so its numbers are those of a run on its own.  A
            # failure stops both lanes (the point fails); a lane that reaches the end of the grid
            # leaves the other to go on alone
            liveA = True
            liveB = r + 1 < R
{init}
            while liveA and liveB:
{timer}
{stepA}
                if liveB:
{stepB_guarded}
            while liveA:
{timer}
{stepA}
            while liveB:
{timer}
{stepB}
            events[i] += n_evA + n_evB
            if status[i] != 0:
                break
'''

_TIMER = '''if timed:
    tick -= 1
    if tick <= 0:
        tick = _TICK
        if _now() - t_start > timeout:
            status[i] = -2
            liveA = False
            liveB = False
            break'''

_LANE_STEP = '''{props}
{sums}
a0{L} = c_{last}{L}
if not ({ok}) or not (a0{L} < inf):
    status[i] = {M} + 1
{first_bad}
    liveA = False
    liveB = False
elif a0{L} > 0.0 and a0{L} * (t_end - t{L}) > _EXPLODE:
    status[i] = -3
    liveA = False
    liveB = False
else:
    if a0{L} > 0.0:
        e{L}, s0{L}, s1{L}, s2{L}, s3{L} = _exponential4(s0{L}, s1{L}, s2{L}, s3{L})
        t_next{L} = t{L} + e{L} / a0{L}
    else:
        t_next{L} = inf
    if tk{L} < t_next{L}:
        while k{L} < T and tgrid[k{L}] < t_next{L}:
{store}
            for q in range(S_out):
                out[i, r + {lane}, q, k{L}] = xs[out_idx[q]]
            k{L} += 1
        if k{L} >= T:
            live{L} = False
        else:
            tk{L} = tgrid[k{L}]
    if live{L}:
        if n_ev{L} >= max_events:
            status[i] = -1
            liveA = False
            liveB = False
        else:
            u{L}, s0{L}, s1{L}, s2{L}, s3{L} = _uniform4(s0{L}, s1{L}, s2{L}, s3{L})
            target{L} = u{L} * a0{L}
            if c_{last}{L} <= target{L}:  # u * a0 rounded up to a0: the last reaction that can fire
                j{L} = {last}
{last_pos}
{apply}
            else:  # the reaction whose running-sum interval holds u * a0, from 0/1 masks
{masks}
            t{L} = t_next{L}
            n_ev{L} += 1'''


def _lane_names(text: str, lane: str) -> str:
    """Suffix the per-trajectory names (``x_q``, ``a_m``, running sums ``c_m``, ``rc_m``, ...,
    masks ``b_m``, ``target``, ``j``) of generated code with ``lane``; parameters ``p_k`` are
    shared."""
    text = re.sub(r"\b((?:r*c|a|x|b)_\d+)\b", r"\1" + lane, text)
    return re.sub(r"\b(target|j)\b", r"\1" + lane, text)


def _indent(lines: Sequence[str], n: int) -> str:
    return "\n".join(" " * n + line if line else line for line in lines)


def _mask_apply(nu: np.ndarray) -> list[str]:
    """``x_q += ...`` lines adding the stoichiometry of the chosen reaction without a table
    lookup: with ``b_m = [c_m <= target]`` (running sums are non-decreasing, so the chosen
    ``j`` has ``b_m = 1`` exactly for ``m < j``) the change of species ``q`` is
    ``nu[0, q] + sum_m b_m (nu[m + 1, q] - nu[m, q])``, exact small integers (so the same
    numbers as the lookup, one dependency step shorter)."""
    M, S = nu.shape
    used: set[int] = set()
    adds = []
    for q in range(S):
        if not nu[:, q].any():
            continue
        terms = [repr(float(nu[0, q]))] if nu[0, q] else []
        for m in range(M - 1):
            d = float(nu[m + 1, q] - nu[m, q])
            if d:
                used.add(m)
                terms.append(f"{d!r} * b_{m}")
        adds.append(f"x_{q} += " + " + ".join(terms))
    return [f"b_{m} = np.float64(c_{m} <= target)" for m in sorted(used)] + (adds or ["target += 0.0"])


def _unrolled2_source(sources: Sequence[str], nu: np.ndarray, n_params: int, rates: Sequence[int | None]) -> str:
    """``ssa_run`` of the two-lane ``unrolled`` method (see :func:`unrolled_source`)."""
    M, S = nu.shape
    sums: list[str] = []
    _prefix_sums([f"a_{m}" for m in range(M)], sums, "")
    tables, apply = [], []
    for q in range(S):
        if nu[:, q].any():
            tables.append(f"_NU_{q} = np.array({[float(v) for v in nu[:, q]]!r})")
            apply.append(f"x_{q} += _NU_{q}[j]")
    generic = {
        "props": [f"a_{m} = {_scalar(src)}" for m, src in enumerate(sources)],
        "sums": sums,
        "first_bad": [line for m in range(M) for line in
                      (f"{'if' if m == 0 else 'elif'} not (a_{m} >= 0.0 and a_{m} < inf):", f"    status[i] = {m + 1}")],
        "last_pos": [line for m in range(M) for line in (f"if a_{m} > 0.0:", f"    j = {m}")],
        "apply": apply or ["j += 0"],
        "masks": _mask_apply(nu),
    }
    depth = {"props": 0, "sums": 0, "first_bad": 4, "last_pos": 16, "apply": 16, "masks": 16}
    ok = " & ".join(f"(a_{m} >= 0.0)" for m in range(M) if rates[m] is None) or "True"
    steps = {}
    for lane, L in enumerate("AB"):
        parts = {key: _lane_names(_indent(lines, depth[key]), L) for key, lines in generic.items()}
        parts["store"] = "\n".join(f"            xs[{q}] = x_{q}{L}" for q in range(S))
        step = _LANE_STEP.format(L=L, lane=lane, last=M - 1, M=M, ok=_lane_names(ok, L), **parts)
        steps[f"step{L}"] = _indent(step.split("\n"), 16)
    steps["stepB_guarded"] = _indent(steps["stepB"].split("\n"), 4)
    init = ["_seed_trajectory(pools[i], r, s)", "s0A = s[0]", "s1A = s[1]", "s2A = s[2]", "s3A = s[3]",
            "if liveB:", "    _seed_trajectory(pools[i], r + 1, s)",
            "s0B = s[0]", "s1B = s[1]", "s2B = s[2]", "s3B = s[3]"]
    for L in "AB":
        init += [f"x_{q}{L} = X0[i, {q}]" for q in range(S)]
        init += [f"t{L} = tgrid[0]", f"tk{L} = tgrid[0]", f"k{L} = 0", f"n_ev{L} = 0", f"t_next{L} = 0.0"]
    rate_check = "".join(f"        {'if' if n == 0 else 'elif'} not (p_{k} >= 0.0):\n            status[i] = {m + 1}\n"
                         for n, (m, k) in enumerate((m, k) for m, k in enumerate(rates) if k is not None))
    loop = _UNROLLED2.format(
        sig=_SIGNATURE, doc=_DOC.format(title="Direct-method (unrolled, two lanes)"), S=max(S, 1),
        params="\n".join(f"        p_{k} = P[i, {k}]" for k in range(n_params)) or "        pass_ = 0",
        rate_check=rate_check or "        status[i] = 0", init=_indent(init, 12),
        timer=_indent(_TIMER.split("\n"), 16), **steps)
    return "\n".join(tables) + "\n\n" + loop
