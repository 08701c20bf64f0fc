import glob, sys
import numpy as np, onnxruntime as ort, torch, transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer
import compress
text = ["a gripping, funny film", "dull and far too long", "the plot is thin but the cast is wonderful"]
print("transformers", transformers.__version__, "torch", torch.__version__)
w = "artifacts/search5/winner"
print("winner (ONNX, width-pruned student, int8):", np.round(compress.load(w).probabilities(text), 3).tolist())
sess = ort.InferenceSession(w + "/model.onnx")
tok = AutoTokenizer.from_pretrained(w)
feed = {k: v for k, v in tok(text, padding=True, return_tensors="np").items() if k in {i.name for i in sess.get_inputs()}}
print("  plain onnxruntime InferenceSession logits argmax:", sess.run(None, feed)[0].argmax(-1).tolist())
for name, kind in (("student3-prune25-", "head- and FFN-pruned"), ("student3-h192-", "width-pruned")):
    path = [p for p in glob.glob("artifacts/search5/" + name + "*") if p.rsplit("-", 1)[0].endswith(name.rstrip("-"))][0]
    ours = compress.load(path).probabilities(text)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        with torch.no_grad():
            plain = model(**AutoTokenizer.from_pretrained(path)(text, padding=True, return_tensors="pt")).logits.softmax(-1).numpy()
        print(f"{path} ({kind}): plain transformers reloads it; largest difference from compress.load {abs(plain - ours).max():.1e}")
    except Exception as exc:
        print(f"{path} ({kind}): plain transformers refuses it ({type(exc).__name__}: {str(exc).strip().splitlines()[-1][:80]}); compress.load: {np.round(ours, 3).tolist()}")
