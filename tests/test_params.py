"""params: every real Basenji-family params file, hand-worked layer expectations, and malformed inputs."""
import json
import warnings

import pytest
from conftest import shared_path

from genomenn.params import (
    BLOCK_VOCABULARY,
    HParams,
    JobParams,
    ParamsError,
    describe_params,
    head_units,
    layer_table,
    make_hparams,
    model_blocks,
    read_job_params,
    read_params,
    total_pool,
)


def P(name): return shared_path('params', name)

# ---- legacy text files: layer counts and per-layer values worked out by hand from each file ----
GR18 = dict(F=[312, 368, 435, 514, 607, 717] + [108]*6 + [1365], S=[22, 1, 6, 6, 6, 3] + [3]*6 + [1],
            P=[1, 2, 4, 4, 4] + [1]*8, D=[1]*6 + [2, 4, 8, 16, 32, 64] + [1])
SMALL_TFR = dict(F=[2]*13, S=[5, 1] + [3]*10 + [1], P=[1, 2, 4, 4, 4] + [1]*8, D=[1]*6 + [2, 4, 8, 16, 32, 64] + [1])
LEGACY = {
    # 6 cnn_* layers; the dcnn_*/full_*/dense keys predate Basenji's make_hparams and land in hp.extra
    'basenji-branch-master_calico__tutorials__models__params_large.txt':
        dict(F=[256, 256, 307, 368, 442, 512], S=[22, 1, 6, 6, 6, 3], P=[1, 2, 4, 4, 4, 1], D=[1]*6,
             seq_length=1024, pool=128, targets=None),
    # cnn_pool 0 on layers 6-12 means no pooling (stored as 1)
    'basenji-history__tutorials__models__params_small.txt':
        dict(F=[128, 128, 192, 256, 256] + [32]*6 + [384], S=[20, 7, 7, 7, 3] + [3]*6 + [1],
             P=[2, 4, 4, 4] + [1]*8, D=[1]*5 + [2, 4, 8, 16, 32, 64] + [1], seq_length=131072, pool=128, targets=[3]),
    'basenji__manuscripts__genome_research2018__params.txt': dict(**GR18, seq_length=131072, pool=128, targets=[4229]),
    'basenji__testdata__params.small.131k.tfrecord.txt': dict(**SMALL_TFR, seq_length=131072, pool=128, targets=[32]),
    'basenji__testdata__params.small.tfrecord.txt': dict(**SMALL_TFR, seq_length=262144, pool=128, targets=[10]),
    # dilated residual: conv_dna (pool 2), 3 reduce layers (256*1.25^k), 8 x (dilated 3-wide + 1x1 residual), final
    'basenji__testdata__params.dilated_res.262k.txt':
        dict(F=[256, 320, 400, 500] + [96, 500]*8 + [768], S=[16, 7, 7, 7] + [3, 1]*8 + [1], P=[2, 4, 4, 4] + [1]*17,
             D=[1]*4 + sum([[r, 1] for r in (1, 2, 4, 8, 16, 32, 64, 128)], []) + [1],
             seq_length=262144, pool=128, targets=[4259]),
}

@pytest.mark.parametrize('name', sorted(LEGACY))
def test_legacy_layers(name):
    exp = LEGACY[name]
    job = read_params(P(name))
    assert isinstance(job, JobParams)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        hp = make_hparams(job, num_targets=1 if exp['targets'] is None else None)
    assert hp.cnn_layers == len(exp['F']) == len(hp.cnn_params)
    assert [c.filters for c in hp.cnn_params] == exp['F']
    assert [c.filter_size for c in hp.cnn_params] == exp['S']
    assert [c.pool for c in hp.cnn_params] == exp['P']
    assert [c.dilation for c in hp.cnn_params] == exp['D']
    assert hp.seq_length == exp['seq_length'] and total_pool(hp) == exp['pool']
    if exp['targets']: assert hp.num_targets == exp['targets'] and hp.sum_targets == sum(exp['targets'])
    assert HParams.from_dict(json.loads(hp.to_json())) == hp
    assert len(layer_table(hp)) == hp.cnn_layers

def test_legacy_details():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        hp = make_hparams(read_params(P('basenji-branch-master_calico__tutorials__models__params_large.txt')),
                          num_targets=1)
    assert hp.extra['dcnn_filters'] == [96]*6 and hp.extra['full_units'] == 768
    assert sum('hp.extra' in str(x.message) for x in w) == 1
    assert not hp.seq_length_given and all(c.dropout == 0.05 for c in hp.cnn_params)  # one cnn_dropout -> every layer
    with pytest.raises(ParamsError, match='num_targets'):
        make_hparams(read_params(P('basenji-branch-master_calico__tutorials__models__params_large.txt')))
    hp = make_hparams(read_params(P('basenji__testdata__params.dilated_res.262k.txt')))
    assert hp.architecture == 'dilated_residual' and hp.optimizer == 'sgd' and hp.momentum == 0.995
    assert hp.shift_augment_offsets == [-3, -2, -1, 1, 2, 3] and hp.augment_with_complement
    assert hp.patience == 24 and hp.cnn_l2_scale == 1e-9 and hp.final_l1_scale == 1e-9
    assert [c.skip_layers for c in hp.cnn_params[4:6]] == [0, 2] and hp.cnn_params[-1].dropout == 0.2
    hp = make_hparams(read_params(P('basenji__manuscripts__genome_research2018__params.txt')))
    assert hp.link == 'exp_linear' and hp.learning_rate == 0.002063 and hp.adam_beta1 == 0.97
    assert [c.concat for c in hp.cnn_params] == [False]*6 + [True]*6 + [False]
    assert [c.dropout for c in hp.cnn_params] == [0.05]*6 + [0.1]*6 + [0.05]

# ---- JSON files: seq_length, block names, head units ----
CROSS = ['conv_block', 'conv_tower', 'dilated_residual', 'Cropping1D', 'conv_block']
BORZOI = ['conv_dna', 'res_tower', 'transformer_tower', 'unet_conv', 'unet_conv', 'Cropping1D']
JSON = {
    'basenji-history__manuscripts__biorxiv2019__params_mouse.json': (131072, CROSS, {'head_mouse': 1643}),
    'basenji__manuscripts__akita__params.json': (1048576,
                                                 ['conv_block', 'conv_tower', 'dilated_residual', 'conv_block'],
                                                 {'head_hic': 5}),
    'basenji__manuscripts__basset__params_basset.json': (1344, ['conv_dna', 'conv_tower', 'conv_block', 'dense_block'],
                                                         {'head': 164}),
    'basenji__manuscripts__cross2020__params_human.json': (131072, CROSS, {'head_human': 5313}),
    'basenji__manuscripts__cross2020__params_mouse.json': (131072, CROSS, {'head_mouse': 1643}),
    'basenji__manuscripts__enformer__params_enformer.json': (196608,
                                                             ['conv_dna', 'res_tower', 'transformer_tower',
                                                              'Cropping1D', 'conv_nac'],
                                                             {'head_human': 5313, 'head_mouse': 1643}),
    'basenji__tests__train_full__params.json': (262144,
                                                ['conv_block', 'conv_tower', 'wheeze_excite', 'dilated_residual',
                                                 'Cropping1D', 'conv_block'], {'head_seq': 1312}),
    'basenji__tutorials__models__params_small.json': (131072,
                                                      ['conv_block', 'conv_tower', 'dilated_residual', 'conv_block'],
                                                      {'head': 3}),
    'baskerville__tests__data__params.json': (131072, BORZOI, {'head_human': 74, 'head_mouse': 32}),
    'baskerville__tests__data__eval__params.json': (131072, BORZOI, {'head_human': 74, 'head_mouse': 32}),
    'borzoi__examples__params.json': (524288, BORZOI + ['conv_nac'], {'head_human': 7611, 'head_mouse': 2608}),
    'borzoi__tutorials__latest__train_model__params_micro.json': (393216, BORZOI[:-1], {'head_human': 2}),
    'borzoi__tutorials__legacy__train_model__params_micro.json': (393216, BORZOI, {'head_human': 2}),
    'baskerville__tests__integration__test__params.json': (393216, BORZOI, {'head_human': 68}),
    'baskerville__tests__data__transfer__json__load_model_houlsby.json': (393216, BORZOI, {'head_human': 68}),
}
JSON.update({f'baskerville__tests__data__transfer__json__borzoi_{k}.json': (524288, BORZOI + ['conv_nac'],
                                                                            {'head_human': 4})
             for k in ('full', 'houlsby', 'ia3', 'linear', 'lora')})
JSON.update({f'baskerville__tests__data__transfer__json__borzoilite_{k}.json': (393216, BORZOI, {'head_human': 68})
             for k in ('full', 'houlsby', 'linear', 'locon4', 'lora', 'se4')})

@pytest.mark.parametrize('name', sorted(JSON))
def test_json_files(name):
    seq_length, blocks, heads = JSON[name]
    p = read_params(P(name))
    assert set(p) >= {'train', 'model'}
    assert p['model']['seq_length'] == seq_length
    assert model_blocks(p['model']) == blocks
    assert head_units(p['model']) == heads

def test_every_shared_file_is_covered():
    names = sorted(x.name for x in shared_path('params').iterdir())
    assert len(names) == 32 and set(names) == set(LEGACY) | set(JSON)
    for n in names: assert describe_params(P(n))   # every file loads and summarises

def test_akita_head_is_a_list_of_2d_blocks():
    m = read_params(P('basenji__manuscripts__akita__params.json'))['model']
    assert [b['name'] for b in m['head_hic']][:2] == ['one_to_two', 'concat_dist_2d']
    assert all(b['name'] in BLOCK_VOCABULARY for b in m['head_hic'])

def test_invalid_annotated_json_refused():
    f = shared_path('params_invalid', 'basenji-history__manuscripts__basset__generic_params.json')
    with pytest.raises(ParamsError,
                       match=r"generic_params\.json:3: invalid JSON: Expecting ',' delimiter at line 3 column 26"):
        read_params(f)

# ---- malformed inputs: each a ParamsError naming the file, the key and (text) the line ----
BASE = "seq_length 1024\nnum_targets 2\n"
TEXT_CASES = [
    ('one token',        BASE + "cnn_filters\n",
     r"bad\.txt:3.*'cnn_filters'.*2 fields\), got 1"),
    ('three tokens',     BASE + "cnn_filters 16 32\n",                        r"bad\.txt:3.*'cnn_filters'.*got 3"),
    ('non-numeric size', BASE + "cnn_filters 16\ncnn_filter_sizes abc\n",
     r"bad\.txt:4: key 'cnn_filter_sizes': expected an integer, got 'abc'"),
    ('negative pool',    BASE + "cnn_filters 16\ncnn_pool -2\n",
     r"bad\.txt:4: key 'cnn_pool': must not be negative, got -2"),
    ('zero filters',     BASE + "cnn_filters 16\ncnn_filters 0\n",
     r"bad\.txt:4: key 'cnn_filters': must be positive, got 0"),
    ('lists disagree',   BASE + "cnn_filters 16\ncnn_filters 16\ncnn_pool 2\ncnn_pool 2\ncnn_pool 2\n",
     r"bad\.txt:7: key 'cnn_pool': 3 values for 2 layers"),
    ('both poolings',    BASE + "pool_by_averaging 1\npool_by_unfolding 1\n",
     r"bad\.txt:4: key 'pool_by_unfolding': .*cannot both"),
    ('architecture',     BASE + "architecture dilated_resid\n",
     r"bad\.txt:3: key 'architecture': unknown architecture 'dilated_resid'.*did you mean 'dilated_residual'"),
    ('no num_targets',   "seq_length 1024\ncnn_filters 8\n",                   r"bad\.txt: key 'num_targets': missing"),
    ('dropout range',    BASE + "cnn_filters 8\ncnn_dropout 1.5\n",
     r"bad\.txt:4: key 'cnn_dropout': must be in \[0, 1\)"),
    ('scalar twice',     BASE + "batch_size 4\nbatch_size 8\n",
     r"bad\.txt:3: key 'batch_size': given 2 times with different values \[4, 8\] \(lines \[3, 4\]\)"),
    ('negative length',  "seq_length -5\nnum_targets 2\n",
     r"bad\.txt:1: key 'seq_length': must be positive"),
    ('bad targets',      "seq_length 64\nnum_targets 0\n",
     r"bad\.txt:2: key 'num_targets': must be positive"),
]

@pytest.mark.parametrize('label,text,msg', TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_malformed_text(tmp_path, label, text, msg):
    f = tmp_path/'bad.txt'; f.write_text(text)
    with pytest.raises(ParamsError, match=msg) as e:
        make_hparams(read_params(f))
    assert isinstance(e.value, ValueError)

def _json(tmp_path, obj):
    f = tmp_path/'bad.json'; f.write_text(obj if isinstance(obj, str) else json.dumps(obj)); return f

JSON_CASES = [
    ('unknown block',  {'train': {}, 'model': {'trunk': [{'name': 'conv_dna'}, {'name': 'dilated_residul'}],
                                               'head': {'name': 'final', 'units': 2}}},
                       r"bad\.json: key 'model\.trunk\[1\]': unknown block 'dilated_residul' \(did you mean "
                       r"'dilated_residual'\?\)"),
    ('unknown head',   {'model': {'trunk': [], 'head_x': [{'name': 'finall', 'units': 2}]}},
     r"key 'model\.head_x\[0\]': unknown block 'finall' \(did you mean 'final'\?\)"),
    ('invalid JSON',   '{"train": {"batch_size": 4,}, "model": {}}',
     r"bad\.json:1: invalid JSON: Expecting property name"),
    ('no model',       {'train': {}}, r"bad\.json: key 'model': a JSON params file needs"),
    ('trunk not list', {'model': {'trunk': {'name': 'conv_dna'}}}, r"key 'model\.trunk': missing or not a list"),
    ('block no name',  {'model': {'trunk': [{'filters': 3}]}},
     r"key 'model\.trunk\[0\]': a block must be an object with a 'name'"),
    ('bad seq_length', {'model': {'seq_length': '1024', 'trunk': []}},
     r"key 'model\.seq_length': must be a positive integer"),
]

@pytest.mark.parametrize('label,obj,msg', JSON_CASES, ids=[c[0] for c in JSON_CASES])
def test_malformed_json(tmp_path, label, obj, msg):
    with pytest.raises(ParamsError, match=msg):
        read_params(_json(tmp_path, obj))

def test_empty_file_directory_and_missing(tmp_path):
    (tmp_path/'empty.txt').write_text('\n  \n')
    with pytest.raises(ParamsError, match=r"empty\.txt: file is empty"): read_params(tmp_path/'empty.txt')
    with pytest.raises(ParamsError, match=r"is a directory"): read_params(tmp_path)
    with pytest.raises(ParamsError, match=r"nope\.txt: no such file"): read_job_params(tmp_path/'nope.txt')

def test_parsing_details(tmp_path):
    f = tmp_path/'p.txt'
    f.write_text("# a comment\nlearning_rate\t\t.15   \nl2  1e-9\nname exp_linear\nn 7 # trailing comment\nbatch_size "
                 "4\nbatch_size 4\n")
    job = read_job_params(f)
    assert job == {'learning_rate': 0.15, 'l2': 1e-9, 'name': 'exp_linear', 'n': 7, 'batch_size': [4, 4]}
    assert type(job['n']) is int and job.line('name') == 4
    with pytest.warns(UserWarning, match="'batch_size' given 2 times with the same value"):
        hp = make_hparams(job, num_targets=[3, 5], warn_unknown=False)
    assert hp.batch_size == 4 and hp.max_targets == 5 and hp.sum_targets == 8

def test_layer_extend_semantics():
    hp = make_hparams({'num_targets': 1, 'cnn_filters': [8, 16, 32], 'cnn_pool': [2, 4], 'cnn_dilation': 2})
    assert [c.pool for c in hp.cnn_params] == [2, 4, 1]          # shorter list padded with the default
    assert [c.dilation for c in hp.cnn_params] == [2, 2, 2]      # a single value applies to every layer

def test_dense_architecture_and_roundtrip():
    hp = make_hparams({'num_targets': 4, 'architecture': 'dense', 'conv_dna_filters': 64, 'target_pool': 8,
                       'conv_reduce_pool': 2, 'conv_dilate_rate_max': 4, 'conv_final_filters': 32})
    assert [c.filters for c in hp.cnn_params] == [64, 80, 100, 128, 128, 128, 32]
    assert [c.concat for c in hp.cnn_params] == [False]*3 + [True]*3 + [False]
    assert [c.dilation for c in hp.cnn_params] == [1, 1, 1, 1, 2, 4, 1]
    d = hp.to_dict(); assert HParams.from_dict(d) == hp and json.loads(hp.to_json()) == d
    with pytest.raises(ParamsError, match=r"unknown HParams field\(s\) \['bogus'\]"):
        HParams.from_dict({**d, 'bogus': 1})
