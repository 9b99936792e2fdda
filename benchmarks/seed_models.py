"""The seed CNN, built the same way in nbkeras, PyTorch and Keras 3.

Conv2D(32,3,relu) -> MaxPool2 -> Conv2D(64,3,relu) -> MaxPool2 -> Conv2D(64,3,relu)
-> Flatten -> Dense(64,relu) -> Dense(10,softmax); input 32x32x3 (CIFAR shapes),
sparse categorical crossentropy, Adam with Keras's defaults.

Shared by ``benchmarks/test_kernels.py`` and ``benchmarks/compare.py`` so that
both measure the same network. PyTorch and Keras are imported lazily, inside the
functions that need them: this module imports with neither installed.
"""
import numpy as np

INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 10
# Per sample (multiply-add = 2 FLOP): forward ~9.1 MFLOP, training ~25.7 MFLOP.
LAYER_SPEC = "Conv2D(32,3,relu) MaxPool2 Conv2D(64,3,relu) MaxPool2 Conv2D(64,3,relu) Flatten Dense(64,relu) Dense(10,softmax)"


def random_data(n, seed=0):
    """Random CIFAR-shaped float32 images in [0, 1) (NHWC) and int labels."""
    rng = np.random.default_rng(seed)
    x = rng.random((n,) + INPUT_SHAPE, dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, size=n).astype(np.int64)
    return x, y


def keras_api_seed_cnn(keras, seed=0):
    """The seed CNN through a Keras-style module (``nbkeras`` or ``keras``), compiled
    with Adam defaults and sparse CE: the same source builds both, as a user's would."""
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(NUM_CLASSES, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss="sparse_categorical_crossentropy")
    return model


def nbkeras_seed_cnn(seed=0):
    import nbkeras
    return keras_api_seed_cnn(nbkeras, seed)


def keras_seed_cnn(seed=0):
    """Keras 3 (the caller sets KERAS_BACKEND before keras is first imported)."""
    import keras
    return keras_api_seed_cnn(keras, seed)


def torch_seed_cnn(seed=0):
    """The same network in PyTorch (NCHW), ending in logits; softmax lives in the loss.

    Returns ``(model, optimizer, loss_fn)``: Adam(lr=1e-3, betas=(0.9, 0.999),
    eps=1e-7) as Keras's defaults, CrossEntropyLoss on logits.
    """
    import torch
    from torch import nn
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, NUM_CLASSES),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    return model, optimizer, nn.CrossEntropyLoss()


def torch_train_epoch(model, optimizer, loss_fn, x, y, batch_size, generator=None):
    """One epoch of a plain PyTorch training loop over NCHW tensors, shuffled like
    ``fit``; returns the mean loss (reading each batch's loss, as ``fit`` does)."""
    import torch
    model.train()
    n = x.shape[0]
    order = torch.randperm(n, generator=generator)
    total = 0.0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        xb, yb = x[idx], y[idx]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += float(loss.item()) * len(idx)
    return total / n


def torch_predict(model, x, batch_size):
    """Softmax probabilities under ``torch.no_grad()`` in eval mode (as ``predict``)."""
    import torch
    model.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            outs.append(torch.softmax(model(x[start:start + batch_size]), dim=1))
    return torch.cat(outs)


def torch_set_nbkeras_weights(model, weights):
    """Copy nbkeras's seed-CNN weights (Keras layout) into the PyTorch twin."""
    import torch
    layers = [m for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    k1, b1, k2, b2, k3, b3, d1, c1, d2, c2 = weights
    new = [k1.transpose(3, 2, 0, 1), b1, k2.transpose(3, 2, 0, 1), b2,
           k3.transpose(3, 2, 0, 1), b3,
           # Flatten: NHWC (h, w, c) rows -> NCHW (c, h, w) columns
           d1.reshape(4, 4, 64, 64).transpose(3, 2, 0, 1).reshape(64, 1024), c1,
           d2.T, c2]
    with torch.no_grad():
        for i, layer in enumerate(layers):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(new[2 * i])))
            layer.bias.copy_(torch.from_numpy(np.ascontiguousarray(new[2 * i + 1])))


def onnx_seed_cnn(path, weights=None, seed=0, threads=None):
    """The seed CNN exported from PyTorch (softmax included, NCHW, batch dimension
    dynamic) with ``torch.onnx.export``, loaded in an ONNX Runtime CPU session
    with ``threads`` intra-op threads (default: the cores)."""
    import os
    import onnxruntime as ort
    import torch
    model, _, _ = torch_seed_cnn(seed)
    if weights is not None:
        torch_set_nbkeras_weights(model, weights)
    model = torch.nn.Sequential(model, torch.nn.Softmax(dim=1)).eval()
    dummy = torch.zeros((1, 3) + INPUT_SHAPE[:2])
    torch.onnx.export(model, (dummy,), path, input_names=["x"], output_names=["probs"],
                      dynamic_axes={"x": {0: "batch"}, "probs": {0: "batch"}}, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count()
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def ort_predict(session, x_nchw, batch_size):
    """Probabilities for NCHW float32 ``x``, batch by batch."""
    return np.concatenate([session.run(None, {"x": x_nchw[s:s + batch_size]})[0]
                           for s in range(0, x_nchw.shape[0], batch_size)])
