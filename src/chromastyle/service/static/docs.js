// Swagger UI over this service's OpenAPI document; validatorUrl null: no call to validator.swagger.io.
window.onload = () => {
  window.ui = SwaggerUIBundle({ url: "./docs.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null });
};
