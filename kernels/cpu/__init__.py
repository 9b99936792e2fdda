"""CPU kernels (@njit). Same names and signatures as ``nbkeras.kernels.cuda``."""
from .activations import (bias_activation_forward,
                          bias_activation_backward, softmax_forward, softmax_backward)
from .dense import matmul, dense_forward, dense_backward
from .conv import conv2d_forward, conv2d_backward, conv2d_pool_forward, conv2d_pool_backward
from .pooling import (maxpool2d_forward, maxpool2d_backward, avgpool2d_forward,
                      avgpool2d_backward, global_avgpool2d_forward,
                      global_avgpool2d_backward, global_maxpool2d_forward,
                      global_maxpool2d_backward)
from .losses import (categorical_crossentropy, binary_crossentropy, regression_loss,
                     sparse_to_onehot)
from .optimizers import (sgd_update, adagrad_update, rmsprop_update, adam_update,
                         clip_by_value, clip_by_norm_segments, clip_by_global_norm,
                         scale_inplace)
from .normalization import (batchnorm_train_forward, batchnorm_infer_forward,
                            batchnorm_backward, layernorm_forward, layernorm_backward)
from .elementwise import accumulate, erf
