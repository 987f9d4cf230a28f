"""Writes gateway/src/test/resources/chat-templates.json: HF-style chat templates rendered by Python's jinja2
as Hugging Face's apply_chat_template renders them (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
raise_exception), the reference ChatTemplateTest holds the gateway's Jinjava rendering to.
Run: python3 gateway/src/test/python/chat_templates_ref.py > gateway/src/test/resources/chat-templates.json"""
import json
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.exceptions import TemplateError
def raise_exception(m): raise TemplateError(m)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
env.globals["raise_exception"] = raise_exception
T = {
"chatml": "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
"llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
"mistral": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
"zephyr": "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
}
convs = {
 "user": [{"role":"user","content":"  Say hello.  "}],
 "full": [{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"Name a colour."}],
 "alt": [{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"Name a colour."}],
}
out = {}
for name, t in T.items():
    for c, msgs in convs.items():
        try:
            r = env.from_string(t).render(messages=msgs, add_generation_prompt=True, bos_token="<s>", eos_token="</s>")
            out[name+"/"+c] = {"ok": r}
        except TemplateError as e:
            out[name+"/"+c] = {"error": str(e)}
print(json.dumps({"templates": T, "out": out}, indent=1))
