import pytest
from transformers import AutoTokenizer

from llmts.codec.grammar import grammar_token_ids
from llmts.codec.tokenizer import check_codec_tokens
from llmts.errors import LlmtsError
from tests.helpers import QWEN_TOKENIZER

TABLE1_IDS = {
    "0.33,0.36;0.26,0.27;0.24,0.20;": (
        "15 13 18 18 11 15 13 18 21 26 15 13 17 21 11 15 13 17 22 26 15 13 17 19 11 15 13 17 15 26"
    ),
    "0.30,0.31;0.34,0.26;0.39,0.21;": (
        "15 13 18 15 11 15 13 18 16 26 15 13 18 19 11 15 13 17 21 26 15 13 18 24 11 15 13 17 16 26"
    ),
}


def ids(tok, text):
    return " ".join(map(str, tok(text, add_special_tokens=False)["input_ids"]))


@pytest.mark.parametrize("text", TABLE1_IDS)
def test_tiny_tokenizer_reproduces_table1_ids(tiny_tokenizer, text):
    assert ids(tiny_tokenizer, text) == TABLE1_IDS[text]
    assert tiny_tokenizer.decode(tiny_tokenizer(text)["input_ids"]) == text


@pytest.mark.skipif(
    not QWEN_TOKENIZER.is_dir(), reason=f"real Qwen tokenizer not found at {QWEN_TOKENIZER}"
)
@pytest.mark.parametrize("text", TABLE1_IDS)
def test_real_qwen_tokenizer_reproduces_table1_ids(text):
    from llmts.codec.tokenizer import load_tokenizer
    from llmts.config.schema import ModelConfig

    tok = load_tokenizer(ModelConfig(path=str(QWEN_TOKENIZER)))
    assert ids(tok, text) == TABLE1_IDS[text]


def test_tiny_specials_and_single_char_ids(tiny_tokenizer):
    tok = tiny_tokenizer
    assert [tok.convert_tokens_to_ids(c) for c in "0,.;"] == [15, 11, 13, 26]
    assert tok.pad_token_id != tok.eos_token_id and len(tok) == 259


def test_a_tokenizer_that_merges_digits_stops_with_one_line_saying_what_to_set():
    from tests.helpers import digit_pair_tokenizer

    tok = digit_pair_tokenizer()
    assert len(tok.encode("12", add_special_tokens=False)) == 1  # the merge it is built with
    with pytest.raises(LlmtsError) as err:
        check_codec_tokens(tok, signed=False)
    msg = str(err.value)
    assert "merges '00', '01'" in msg and "data.digit_separator=' '" in msg and "\n" not in msg
    check_codec_tokens(tok, " ", signed=True, missing=True)  # written apart: one token each
    ids = grammar_token_ids(tok, " ")
    assert tok.decode([ids["7"]]) == " 7"


def test_the_tiny_and_qwen_tokenizers_keep_codec_characters_apart(tiny_tokenizer):
    tok = tiny_tokenizer
    check_codec_tokens(tok, signed=True, missing=True)
    if not QWEN_TOKENIZER.is_dir():
        pytest.skip(f"real Qwen tokenizer not found at {QWEN_TOKENIZER}")
    qwen = AutoTokenizer.from_pretrained(str(QWEN_TOKENIZER))
    check_codec_tokens(qwen, signed=False, missing=True)  # 'NaN' is one Qwen token, never merged
    with pytest.raises(LlmtsError) as err:  # Qwen writes ',-' and ';-' as one token each
        check_codec_tokens(qwen, signed=True)
    assert "merges ',-', ';-'" in str(err.value) and "set data.scale=affine" in str(err.value)


def test_a_tokenizer_without_a_codec_character_is_one_line():
    """A word-level vocabulary with no ';': it would write the unknown token there, silently."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[UNK]", "<pad>", "<eos>", *"0123456789,.-"])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="<pad>", eos_token="<eos>"
    )
    with pytest.raises(LlmtsError, match="tokenizer cannot write ';'") as err:
        check_codec_tokens(tok, "", signed=False)
    assert "\n" not in str(err.value)


def test_an_unobtainable_pinned_model_is_named_with_its_pin(tmp_path, monkeypatch):
    """``model=smollm2-135m model.name=OTHER`` keeps the option's revision: the error line shows
    the pin it kept; a local folder is named by its path alone (a revision means nothing there)."""
    from llmts.codec.tokenizer import hub_ref, require_obtainable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(LlmtsError, match=r"'org/other@93efa2f097d5' is not in the local"):
        require_obtainable("org/other", "93efa2f097d58c2a74874c7e644dbc9b0cee75a2")
    assert hub_ref(str(tmp_path), "93efa2f097d58c2a74874c7e644dbc9b0cee75a2") == str(tmp_path)
    assert hub_ref("org/other", None) == "org/other"
