"""The method's fixed numbers, defined once (FNAC, CVPR 2023, and its code; see README).

Everything else in the library takes these as defaults; the run configuration (``config``) and
the pure functions (``losses``, ``localization``) both read them from here.
"""

TAU = 0.03  # the published temperature: S = cos / tau (a run's own is train.tau)
FG_THRESHOLD = 0.6  # the published TNE threshold (a run's own is train.fg_threshold)
OGL_ALPHA = 0.4  # object-guided localisation: weight of the audio-visual map (SLAVC uses 0.9)

# torchvision's ImageNet statistics, the input normalisation of every visual trunk.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET18_BLOCKS = (2, 2, 2, 2)  # residual blocks per stage of a ResNet-18
RESNET18_WIDTH = 64  # channels of its first stage
