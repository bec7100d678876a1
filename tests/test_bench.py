"""The op benchmark runs and reports every case (a smoke test: speed is shown by the script, not tested)."""

from unet_from_scratch import bench


def test_ops_benchmark_smoke():
    rows = bench.run_ops_benchmark(batch=1, repeats=1, warmup=0)
    assert [row["op"] for row in rows] == [case[0] for case in bench.OPS_CASES]
    for row in rows:
        assert row["ours_fwd_ms"] > 0 and row["ours_fwd_bwd_ms"] > 0
        if bench.torch is None:
            assert row["torch_fwd_bwd_ms"] is None and row["ratio_fwd_bwd"] is None
        else:
            assert row["max_abs_diff_fwd"] < 1e-3      # the two compute the same thing
    assert rows[3]["output_shape"] == (1, 512, 12, 12)
    assert "ours f+b" in bench.format_header()
    assert bench.format_row(rows[0]).startswith("conv2d 3x3 p1")
