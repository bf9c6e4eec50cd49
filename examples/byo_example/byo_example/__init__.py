"""Example plug-ins for proxygrad-bench (a package that knows nothing of the suite but its contracts):

- ``byo_example.am:signed_ascent``  an AM function ``am(f, x0, *, steps, lr, seed) -> Tensor``;
- ``byo_example.models:tiny_cnn``   a model factory ``() -> (nn.Module, preprocess, input_shape)``;
- ``byo_example.toys:ramp``         a toy family ``(dim, seed, **params) -> ToyFunction`` (closed-form optimum);
- ``byo_example.toys:random_ramp``  the same kind of family without a stated optimum (the suite certifies it).
"""
__version__ = "0.1.0"
