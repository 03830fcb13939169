"""Tiled LZ4 chunks (`Lz4Chunks.tiles`): each tile's chunk is the chunk of that tile cut out with
numpy (edges zero-padded), byte for byte, and HDF5's filter reads a frame written tile by tile."""

import h5py
import hdf5plugin
import numpy as np
import pytest

from nca_world.sim.chunks import Lz4Chunks, tile_grid, tiles_of

CASES = [  # array shape, dtype, tile
    ((3, 20, 30), np.uint8, (8, 16)),  # edge tiles in both directions
    ((20, 30), np.uint16, (20, 30)),  # one tile: the whole plane
    ((2, 17, 33), np.float16, (17, 11)),  # tiles as tall as the plane
    ((4, 9, 12), np.uint8, (4, 12)),  # tiles as wide as the plane (blocks compressed in place)
    ((1, 1), np.uint16, (1, 1)),
    ((5, 40, 40), np.uint8, (64, 64)),  # a tile larger than the plane
]


@pytest.mark.parametrize("shape, dtype, tile", CASES)
@pytest.mark.parametrize("block", [7, 64, 1 << 15])
@pytest.mark.parametrize("compressible", [True, False])
def test_each_tile_chunk_is_the_chunk_of_the_numpy_tile(shape, dtype, tile, block, compressible):
    rng = np.random.default_rng(1)
    data = (rng.random(shape) * (3 if compressible else 250)).astype(dtype)
    owner = rng.integers(0, 40000, shape[-2:]).astype(np.uint16)
    encode = Lz4Chunks(block)
    frame_chunks, owner_chunks = encode.tiles(data, owner, tile=tile)
    frame_chunks, owner_chunks = [c.tobytes() for c in frame_chunks], [c.tobytes() for c in owner_chunks]
    assert len(frame_chunks) == len(owner_chunks) == np.prod(tile_grid(*shape[-2:], tile))
    whole = Lz4Chunks(block)
    for chunk, piece in zip(frame_chunks, tiles_of(data, tile), strict=True):
        assert chunk == whole(piece)[0].tobytes()
    for chunk, piece in zip(owner_chunks, tiles_of(owner, tile), strict=True):
        assert chunk == whole(piece)[0].tobytes()


@pytest.mark.parametrize("shape, dtype, tile", CASES[:-1])  # HDF5 refuses chunks larger than the dataset
def test_a_frame_written_tile_by_tile_reads_back_through_the_hdf5_filter(tmp_path, shape, dtype, tile):
    rng = np.random.default_rng(2)
    data = (rng.random(shape) * 9).astype(dtype)
    data[..., ::2, :] = 0
    chunks = Lz4Chunks(64).tiles(data, tile=tile)[0]
    across = tile_grid(*shape[-2:], tile)[1]
    with h5py.File(tmp_path / "tiles.h5", "w") as f:
        dataset = f.create_dataset("x", (2, *shape), dtype, chunks=(1, *shape[:-2], *tile), **hdf5plugin.LZ4())
        for t, chunk in enumerate(chunks):
            offset = (1, *(0,) * (len(shape) - 2), t // across * tile[0], t % across * tile[1])
            dataset.id.write_direct_chunk(offset, chunk)
    with h5py.File(tmp_path / "tiles.h5", "r") as f:
        np.testing.assert_array_equal(f["x"][1], data)
        assert f["x"].id.get_num_chunks() == len(chunks)
