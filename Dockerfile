# The web app (app/streamlit_app.py) on CPU torch.
#
# Not built here: no Docker engine runs on the machines this was written on. Kept plain and
# conventional so that it builds anywhere with network access to PyPI and download.pytorch.org.
#
#   docker build -t captioner-web .
#   docker run -p 8501:8501 -v "$PWD/runs/demo:/models:ro" captioner-web    # then open http://localhost:8501
#
# Models: the shipped ones in captioner/pretrained/ (copied in with the code once they exist), plus
# every saved model directory directly under /models (mount a folder there, as above).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/captioner

# torch from PyPI is the CUDA build (gigabytes of GPU libraries); this image serves on CPU, so torch
# and torchvision come from PyTorch's CPU index first. Their versions then satisfy the pins in
# requirements.txt ("2.14.1+cpu" matches "==2.14.1"), and pip leaves them in place.
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1 \
 && pip install -r requirements.txt

# Code last, so editing it does not reinstall the dependencies. Run from source (PYTHONPATH) rather than
# pip-installed: the shipped models in captioner/pretrained/ are not package data of the wheel.
COPY captioner/ captioner/
COPY app/ app/
COPY data/samples/ data/samples/
COPY .streamlit/ .streamlit/

RUN useradd --create-home --uid 1000 captioner && mkdir -p /models
USER captioner
ENV PYTHONPATH=/srv/captioner \
    CAPTIONER_MODELS_DIR=/models \
    MPLCONFIGDIR=/tmp/matplotlib

EXPOSE 8501
# The slim image has no curl; Python asks Streamlit's own health endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]

# Started from WORKDIR, so .streamlit/config.toml (upload size limit) applies.
CMD ["python", "-m", "streamlit", "run", "app/streamlit_app.py", \
     "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
