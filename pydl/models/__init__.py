"""Model definitions, each shaped like its PyTorch/torchvision counterpart (module names included, so
state_dicts move between the libraries) and checked against a plain-torch twin in tests/.

Vision: MLP, LeNet5, AlexNet, VGG (vgg11, vgg16), ResNet (resnet18/34/50, resnet20_cifar), GoogLeNet.
Generative: DenseAutoencoder, ConvAutoencoder (denoising mode), DCGAN Generator/Discriminator.
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
