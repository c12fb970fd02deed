"""The method's fixed numbers, defined once (FNAC, CVPR 2023, and its code; see README).

Everything else in the library takes these as defaults; the run configuration (``config``) and
the pure functions (``losses``, ``localization``) both read them from here.
"""

TAU = 0.03  # temperature of every similarity: S = cos / tau, no learnable scale
FG_THRESHOLD = 0.6  # TNE: a location is "sounding" where its normalised own-pair map exceeds this
TERM_WEIGHT = 100.0  # weight of each FNAC regulariser at the published batch of 256
WARMUP_EPOCHS = 5  # epochs of the base loss alone before the regularisers start
OGL_ALPHA = 0.4  # object-guided localisation: weight of the audio-visual map (SLAVC uses 0.9)

# The training objectives: EZ-VSL (base loss alone), FNAC (all three regularisers), each FNAC
# regulariser alone on top of the base loss, and two controls: the oracle (the base loss with the
# true same-class negatives removed, from the labels) and FNAC with shuffled adjacency matrices.
METHODS = ("ezvsl", "fnac", "fns_audio", "fns_visual", "tne", "oracle", "fnac_shuffled")
FNAC_TERMS = ("fns_audio", "fns_visual", "tne")

# torchvision's ImageNet statistics, the input normalisation of every visual trunk.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET18_BLOCKS = (2, 2, 2, 2)  # residual blocks per stage of a ResNet-18
RESNET18_WIDTH = 64  # channels of its first stage
