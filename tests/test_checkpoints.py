"""Tests for course_utils/checkpoints.py and pretrain.py: the shipped models load, are checked,
are small, do what the notebooks say, and regenerate bit for bit."""
import shutil

import pytest
import torch

from dataclasses import replace

from course_utils import checkpoints
from course_utils.checkpoints import (MAX_BYTES, Trained, available, load_checkpoint,
                                      pretrained, read_manifest, save_checkpoint,
                                      shipped_results)
from course_utils.data import Vocab, reversal_splits, translation_splits
from course_utils.decoding import translate
from course_utils.metrics import evaluate_translation
from course_utils.models import Seq2Seq, Seq2SeqConfig
from course_utils.pretrain import main as pretrain_main
from course_utils.recipes import (ARCHITECTURES, RECIPES, Experiment, Recipe, run_experiment,
                                  train_recipe)
from course_utils.training import History

MODELS = ["reversal", "translation_bottleneck", "translation_attention", "translation_general"]


def test_every_recipe_has_a_shipped_file_under_two_megabytes():
    manifest = read_manifest()
    assert sorted(manifest) == sorted(RECIPES) == available()
    for name, entry in manifest.items():
        path = checkpoints.CHECKPOINT_DIR / entry["file"]
        assert path.stat().st_size == entry["bytes"] <= MAX_BYTES, name


@pytest.mark.parametrize("name", MODELS)
def test_shipped_models_load_in_eval_mode_with_matching_vocabularies(name):
    pre = pretrained(name)
    assert not pre.model.training
    pre.model.check_vocabs(pre.src_vocab, pre.tgt_vocab)
    assert isinstance(pre, Trained) and isinstance(pre.history, History)
    assert pre.history.epoch and len(pre.history.valid_loss) == len(pre.history.epoch)


def test_shipped_reversal_model_reverses_held_out_strings():
    pre = pretrained("reversal")
    _, _, test = reversal_splits()
    got = translate(pre.model, [s for s, _ in test], pre.src_vocab, pre.tgt_vocab,
                    tokenize=list, max_len=20)
    correct = sum("".join(g) == t for g, (_, t) in zip(got, test))
    assert correct / len(test) >= 0.99


def test_attention_beats_the_bottleneck_on_held_out_translation():
    _, _, test = translation_splits()
    scores = {}
    for name in ("translation_bottleneck", "translation_attention"):
        pre = pretrained(name)
        scores[name] = evaluate_translation(pre.model, test[:300], pre.src_vocab,
                                            pre.tgt_vocab)["bleu"]
    assert scores["translation_attention"] > 95 > scores["translation_bottleneck"] > 60, scores


def test_teacher_forcing_results_hold_three_settings_per_epoch():
    results = shipped_results("teacher_forcing")
    assert results["seeds"] == [0, 1, 2] and results["epochs"] == 8
    assert 5 < results["reference_length"] < 10  # mean tokens of the monitored references
    assert sorted(results["runs"]) == ["inverse sigmoid", "ratio 0.5", "ratio 1.0"]
    for label, histories in results["runs"].items():
        assert len(histories) == len(results["seeds"]), label
        for history in histories:
            for key in ("train_loss", "valid_loss", "free_running_token_accuracy",
                        "free_running_bleu", "free_running_length"):
                assert len(history[key]) == results["epochs"], (label, key)
            assert all(0 <= a <= 100 for a in history["free_running_token_accuracy"])
            assert all(0 < n < 30 for n in history["free_running_length"])  # max_len is 30
        # different seeds, different runs
        assert len({history["valid_loss"][-1] for history in histories}) == len(histories), label
    # ratio 1.0 is fed only gold tokens; the schedule decays from k / (k + 1) = 0.75
    assert all(h["teacher_forcing"] == [1.0] * 8 for h in results["runs"]["ratio 1.0"])
    assert results["runs"]["inverse sigmoid"][0]["teacher_forcing"][0] == pytest.approx(0.75)


def _copy_of_shipped(tmp_path, monkeypatch, name="reversal"):
    """Point the checkpoint folder at a copy, so a test may damage it."""
    shutil.copytree(checkpoints.CHECKPOINT_DIR, tmp_path / "ckpt")
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", tmp_path / "ckpt")
    monkeypatch.setattr(checkpoints, "MANIFEST", tmp_path / "ckpt" / "MANIFEST.json")
    return tmp_path / "ckpt" / read_manifest()[name]["file"]


def test_a_corrupted_checkpoint_is_refused_with_how_to_fix_it(tmp_path, monkeypatch):
    path = _copy_of_shipped(tmp_path, monkeypatch)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted.*python -m course_utils.pretrain reversal"):
        pretrained("reversal")


def test_a_missing_checkpoint_file_says_how_to_regenerate_it(tmp_path, monkeypatch):
    _copy_of_shipped(tmp_path, monkeypatch).unlink()
    with pytest.raises(ValueError, match="missing.*pretrain reversal"):
        pretrained("reversal")


def test_an_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="available: .*translation_attention"):
        pretrained("transformer")


def test_save_and_load_round_trip_keeps_weights_vocabs_and_history(tmp_path):
    torch.manual_seed(0)
    src_vocab = Vocab.build([["a", "b", "c"]])
    tgt_vocab = Vocab.build([["x", "y"]])
    model = Seq2Seq(Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb_dim=4, hidden_dim=4,
                                  rnn_type="lstm", bidirectional=True, attention="general"))
    history = History(epoch=[1], train_loss=[0.7], teacher_forcing=[1.0], valid_loss=[0.5],
                      valid_ppl=[1.6], metrics={"valid_bleu": [3.0]}, best_epoch=1)
    path = save_checkpoint(Trained(model, src_vocab, tgt_vocab, history, {"note": 1}),
                           tmp_path / "m.pt")
    loaded = load_checkpoint(path)
    assert loaded.src_vocab == src_vocab and loaded.tgt_vocab == tgt_vocab
    assert loaded.history == history and loaded.extra == {"note": 1}
    assert loaded.model.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key


def test_saving_with_a_vocabulary_that_does_not_fit_the_model_is_refused(tmp_path):
    vocab = Vocab.build([["a", "b"]])
    model = Seq2Seq(Seq2SeqConfig(len(vocab) + 1, len(vocab), emb_dim=4, hidden_dim=4))
    with pytest.raises(ValueError, match="source vocabulary has 6 tokens but the model"):
        save_checkpoint(Trained(model, vocab, vocab), tmp_path / "m.pt")


def test_loading_a_path_that_does_not_exist_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.slow
def test_a_recipe_run_twice_gives_identical_weights():
    # The shipped files regenerate bit for bit on the machine that made them
    # (`python -m course_utils.pretrain --all --check`); on another CPU the float kernels may
    # differ, so CI checks the recipe's own determinism instead, on one short epoch.
    torch.set_num_threads(1)
    recipe = RECIPES["reversal"]
    one_epoch = replace(recipe, train=replace(recipe.train, epochs=1))
    first, second = (train_recipe(one_epoch, progress=False) for _ in range(2))
    assert first.history == second.history
    for key, value in first.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[key], value), key


def test_pretrain_check_reports_a_difference(tmp_path, monkeypatch, capsys):
    # --check compares the regenerated file's sha256 with the manifest's; fake the experiment.
    _copy_of_shipped(tmp_path, monkeypatch, "teacher_forcing")
    import course_utils.pretrain as pretrain
    monkeypatch.setattr(pretrain, "run_experiment", lambda name, progress: {"changed": 1})
    assert pretrain_main(["teacher_forcing", "--check", "--quiet"]) == 1
    assert "teacher_forcing: DIFFERS from the shipped file" in capsys.readouterr().out


def test_recipes_are_data_that_name_a_task_a_model_and_a_training():
    for name, recipe in RECIPES.items():
        recipe = recipe.recipe if isinstance(recipe, Experiment) else recipe
        assert isinstance(recipe, Recipe), name
        _, config = ARCHITECTURES[recipe.architecture]
        config(10, 10, **recipe.model)  # valid model arguments, the sizes aside
    assert RECIPES["translation_attention"].model["attention"] == "additive"
    assert RECIPES["teacher_forcing"].seeds == (0, 1, 2)


def test_running_a_recipe_of_the_wrong_kind_says_which_function_runs_it():
    with pytest.raises(ValueError, match="run_experiment"):
        train_recipe("teacher_forcing")
    with pytest.raises(ValueError, match="train_recipe"):
        run_experiment("reversal")
    with pytest.raises(ValueError, match="unknown recipe 'transformer'"):
        train_recipe("transformer")
