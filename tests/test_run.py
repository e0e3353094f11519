"""``python -m ember.run``: the torch alias must leave ember's own modules intact and run
a program the way ``python program.py`` would."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def _ember_run(script, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ember.run", str(script), *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_multiworker_dataloader_under_alias(tmp_path):
    # Importing through torch's path used to rename ember's modules (their __package__
    # became 'torch.utils.data.dataloader'), so the workers' relative imports failed.
    script = tmp_path / "loader.py"
    script.write_text(textwrap.dedent("""
        import json
        import torch
        from torch.utils.data.dataloader import DataLoader
        from torch.utils.data import TensorDataset
        import ember.utils.data.dataloader as ember_dl

        ds = TensorDataset(torch.arange(20.0).reshape(10, 2), torch.arange(10))
        batches = list(DataLoader(ds, batch_size=3, num_workers=2))
        print(json.dumps({
            "x": [b[0].sum().item() for b in batches], "y": [b[1].tolist() for b in batches],
            "package": ember_dl.__package__, "spec": ember_dl.__spec__.name,
            "alias_package": __import__("sys").modules["torch.utils.data.dataloader"].__package__,
        }))
    """))
    out = _ember_run(script)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["y"] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert got["x"] == [15.0, 51.0, 87.0, 37.0]
    assert got["package"] == "ember.utils.data" and got["spec"] == "ember.utils.data.dataloader"
    assert got["alias_package"] == "torch.utils.data"


def test_script_folder_is_on_sys_path(tmp_path):
    # `python dir/main.py` puts dir first on sys.path; multi-file programs rely on it
    prog = tmp_path / "prog"
    prog.mkdir()
    (prog / "model.py").write_text("import torch.nn as nn\nNet = nn.Linear\n")
    (prog / "main.py").write_text("import sys\nfrom model import Net\n"
                                  "print(type(Net(2, 3)).__module__, sys.argv[1:])\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _ember_run("../prog/main.py", "--lr", "0.1", cwd=elsewhere)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[0].startswith("ember.nn")
    assert out.stdout.strip().endswith("['--lr', '0.1']")


def test_alias_keeps_setattr_on_ember_and_callable_modules(tmp_path, monkeypatch):
    import ember
    from ember.run import install_torch_alias, uninstall_torch_alias
    install_torch_alias()
    try:
        import torch
        import torch.nn.functional as F
        F.my_marker = 1          # a program monkeypatching torch reaches ember's module
        assert ember.nn.functional.my_marker == 1
        assert F.__spec__.name == "torch.nn.functional"
        assert ember.nn.functional.__spec__.name == "ember.nn.functional"
        assert torch.nn.functional.relu is ember.nn.functional.relu
    finally:
        del ember.nn.functional.my_marker
        uninstall_torch_alias()
    # an ember package one calls (as ember.compile is) stays callable at torch's name
    import types

    from ember.run import _TorchAlias

    class Callable(types.ModuleType):
        def __call__(self, x):
            return x * 2
    alias = _TorchAlias(Callable("ember.fake"), "torch.fake")
    assert alias(21) == 42


def test_spawned_children_get_the_alias(tmp_path):
    # a spawned child imports the program's __main__ afresh: torch must be ember there too
    script = tmp_path / "spawner.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        def child(q):
            import torch
            q.put(type(torch.zeros(1)).__module__)

        if __name__ == "__main__":
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            p = ctx.Process(target=child, args=(q,))
            p.start()
            print(q.get())
            p.join()
            ds = TensorDataset(torch.arange(4.0))
            loader = DataLoader(ds, batch_size=2, num_workers=1, multiprocessing_context="spawn")
            print([b[0].tolist() for b in loader])
    """))
    out = _ember_run(script)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines()[0] == "ember._tensor"
    assert out.stdout.strip().splitlines()[-1] == "[[0.0, 1.0], [2.0, 3.0]]"
