"""Model definitions, each shaped like its PyTorch/torchvision counterpart (module names included, so
state_dicts move between the libraries) and checked against a plain-torch twin in tests/.

Vision: MLP, LeNet5, AlexNet, VGG (vgg11, vgg16), ResNet (resnet18/34/50, resnet20_cifar), GoogLeNet.
Generative: DenseAutoencoder, ConvAutoencoder (denoising mode), DCGAN Generator/Discriminator.
Language: RNNLanguageModel (rnn_lm), Seq2Seq (seq2seq), TransformerSeq2Seq, SkipGram/CBOW (word2vec).
"""
from .mlp import MLP  # noqa: F401
from .lenet import LeNet5  # noqa: F401
from .alexnet import AlexNet  # noqa: F401
from .vgg import VGG, vgg11, vgg16  # noqa: F401
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet20_cifar, resnet34, resnet50  # noqa: F401
from .inception import GoogLeNet, Inception, InceptionAux  # noqa: F401
from .autoencoder import ConvAutoencoder, DenseAutoencoder  # noqa: F401
from .gan import Discriminator, Generator, dcgan_init_, gan_train_step  # noqa: F401
# --- language models (GPT, BERT) ---
from .gpt import GPT, GPTConfig  # noqa: F401,E402
from .bert import (  # noqa: F401,E402
    BertConfig, BertForMaskedLM, BertForPreTraining, BertForSequenceClassification, BertModel,
)
# --- language models: recurrent LM, seq2seq (LSTM + attention, transformer), word2vec ---
from .rnn_lm import RNNLanguageModel  # noqa: F401,E402
from .seq2seq import Seq2Seq, make_digit_task  # noqa: F401,E402
from .transformer_seq2seq import PositionalEncoding, TransformerSeq2Seq  # noqa: F401,E402
from .word2vec import CBOW, SkipGram, WordVectors  # noqa: F401,E402
