"""Character modelling as in DL4J's guide: two GravesLSTM layers, TBPTT 50/50, sampling.

The network reads a text one character at a time (one-hot) and learns to predict the next
character: ``GravesLSTM -> GravesLSTM -> RnnOutputLayer`` (softmax, MCXENT), trained with
truncated backpropagation through time over segments of 50 characters. Samples are drawn
from a primed state: the prime text goes through ``rnn_time_step`` once, then every sampled
character is fed back one step at a time.

The default corpus is ``fixtures/text/devils_dictionary.txt`` (Ambrose Bierce, *The Devil's
Dictionary*, public domain, from Debian's ``dict-devil`` package); ``--text FILE`` takes any
UTF-8 text file. ``--save MODEL.zip`` writes the model with its vocabulary so that
``seqnet sample MODEL.zip --prime "The " --length 200`` continues from it.

Run ``python examples/char_model.py`` (full length) or with ``--quick``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples._common import argument_parser, epoch_count, initialized_network  # noqa: E402

CORPUS = ROOT / "fixtures" / "text" / "devils_dictionary.txt"
TBPTT = 50


def build_network(vocabulary_size: int, hidden: int, seed: int, learning_rate: float):
    from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
    from seqnet.conf.multilayer import MultiLayerConfiguration
    from seqnet.conf.updaters import Adam

    conf = MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=vocabulary_size, n_out=hidden, activation="tanh"),
                GravesLSTM(n_out=hidden, activation="tanh"),
                RnnOutputLayer(n_out=vocabulary_size, activation="softmax", loss="MCXENT")],
        backprop_type="TRUNCATED_BPTT", tbptt_forward_length=TBPTT, tbptt_backward_length=TBPTT,
        updater=Adam(learning_rate), l2=1e-5, seed=seed,
        gradient_normalization="CLIP_ELEMENT_WISE_ABSOLUTE_VALUE",
        gradient_normalization_threshold=1.0)
    return initialized_network(conf)


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--text", default=str(CORPUS), help="any UTF-8 text file")
    parser.add_argument("--prime", default=None,
                        help='text to continue (default "The ", or the most frequent '
                             'character when the corpus lacks one of those)')
    parser.add_argument("--sample-length", type=int, default=300)
    parser.add_argument("--save", default=None, help="write the model (and vocabulary) here")
    args = parser.parse_args(argv)

    from seqnet.text import CharacterIterator, CharacterVocabulary
    from seqnet.workflow.model_io import save_model
    from seqnet.workflow.sample import sample_characters

    text = Path(args.text).read_text(encoding="utf-8")
    if args.quick:
        text = text[:30_000]
    vocabulary = CharacterVocabulary.from_text(text)
    prime = args.prime
    if prime is None:
        prime = "The " if all(c in vocabulary for c in "The ") else \
            max(vocabulary.chars, key=text.count)
    epochs = epoch_count(args, quick=1, full=10)
    hidden = 48 if args.quick else 128
    length = 200
    batches = CharacterIterator(text, vocabulary, sequence_length=length,
                                batch_size=32 if args.quick else 16, seed=args.seed)
    net = build_network(len(vocabulary), hidden, args.seed, 5e-3)
    print(f"{len(text):,} characters, vocabulary of {len(vocabulary)}, "
          f"{net.num_params():,} parameters, {len(batches)} minibatches per epoch")

    start = time.perf_counter()
    first = next(iter(batches))
    initial_score = net.score(first)
    scores = []
    samples: list[str] = []
    for epoch in range(1, epochs + 1):
        total, count = 0.0, 0
        for ds in batches:
            net.fit(ds)
            # With TBPTT, score() is that of the minibatch's last segment of TBPTT steps.
            total += net.score() * ds.num_examples()
            count += ds.num_examples()
        scores.append(total / count)
        samples = sample_characters(net, vocabulary, prime, args.sample_length,
                                    num_samples=2, seed=args.seed + epoch)
        print(f"epoch {epoch:3d}  train score {scores[-1]:.2f} "
              f"({scores[-1] / TBPTT:.3f} nats per character)")
        for s in samples:
            print("  | " + (prime + s).replace("\n", "\n  | "))
    seconds = time.perf_counter() - start
    final_first = net.score(first)
    if args.save:
        save_model(net, args.save, vocabulary=vocabulary)
        print(f"saved {args.save} (sample with: seqnet sample {args.save} --prime "
              f"'{prime}' --length 200)")
    print(f"score of the first minibatch: {initial_score / length:.3f} -> "
          f"{final_first / length:.3f} nats per character; {epochs} epochs in {seconds:.1f} s")
    return {"initial_score": initial_score, "final_score": final_first, "scores": scores,
            "samples": samples, "vocabulary": vocabulary.chars, "seconds": seconds}


if __name__ == "__main__":
    main()
